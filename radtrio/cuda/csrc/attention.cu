// KV-slot attention: store_kv, split-KV attention over slots (decode and any ragged
// batch), and the merge of the splits. Layouts follow radtrio/models/batch.py (CSR).
//
// q     [rows, Hq, D]   row stride q_stride (elements), heads contiguous (stride D)
// cache [slots, Hkv, D] contiguous, one tensor per layer for K and for V
// out   [rows, Hq, D]   row stride out_stride
// Query row t of sequence b is new token i = t - qo_indptr[b]; it sees the first
// seq_len - extend_len + i + 1 entries of kv_indices[kv_indptr[b]:kv_indptr[b+1]].

// Write each new token's K and V row into its slot; slot <= 0 is padding and skipped.
template <typename T>
__global__ void store_kv(const T* __restrict__ k, i64 k_stride, const T* __restrict__ v,
                         i64 v_stride, T* __restrict__ k_cache, T* __restrict__ v_cache,
                         const i64* __restrict__ out_slots, int row_elems) {
    const int t = blockIdx.x;
    const i64 slot = out_slots[t];
    if (slot <= 0) return;
    const int n = row_elems / 8;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        store_raw8(k_cache + slot * row_elems + i * 8, load_raw8(k + t * k_stride + i * 8));
        store_raw8(v_cache + slot * row_elems + i * 8, load_raw8(v + t * v_stride + i * 8));
    }
}

__device__ __forceinline__ u32 smem_u32(const void* p) {
    u32 addr;
    asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }\n" : "=r"(addr) : "l"(p));
    return addr;
}
__device__ __forceinline__ void cp_async_16(u32 dst, const void* src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
                 "r"(src_bytes));
}

// Shared memory of attn_split: two stages of K and V tiles (64 tokens each).
template <typename T, int D> struct SplitSmem {
    static constexpr int TILE = 64;
    static constexpr int BYTES = 2 * 2 * TILE * D * (int)sizeof(T);
};

// One block per (query row, kv head, split): the G query heads of the group share every
// K/V load. Tiles of 64 tokens stream through shared memory with cp.async, two stages deep
// (tile i+1 loads while tile i computes; the slots of tile i+2 load meanwhile into
// registers), then scores -> online softmax (log2 domain) -> P.V in fp32.
// With gridDim.z == 1 the result goes straight to `out`; else normalized partial
// outputs and their log2-sum-exp go to part_o / part_lse for attn_merge.
// Dynamic shared memory: SplitSmem<T, D>::BYTES. THREADS: 128 or 256.
template <typename T, int D, int G, int THREADS>
__global__ void __launch_bounds__(THREADS)
attn_split(const T* __restrict__ q, i64 q_stride, const T* __restrict__ k_cache,
           const T* __restrict__ v_cache, int kv_heads, const i64* __restrict__ qo_indptr,
           const i64* __restrict__ kv_indptr, const i64* __restrict__ kv_indices, int num_seqs,
           float scale_log2, T* __restrict__ out, i64 out_stride, float* __restrict__ part_o,
           float* __restrict__ part_lse, int kv_major) {
    constexpr int CH = D / 8;          // 8-element chunks per row
    constexpr int R = THREADS / CH;    // token lanes
    constexpr int TILE = SplitSmem<T, D>::TILE;
    constexpr int PER = TILE / R;      // tokens per thread per tile
    constexpr int WARPS = THREADS / 32;
    constexpr int C16 = D * (int)sizeof(T) / 16;  // 16-byte chunks per row
    constexpr int PASS = THREADS / C16;           // rows one pass of cp.async covers
    constexpr int LOADS = TILE / PASS;            // cp.async per thread per tile per tensor
    static_assert(D % 8 == 0 && THREADS % CH == 0 && TILE % R == 0 && CH <= 32, "shape");
    static_assert(THREADS % C16 == 0 && TILE % PASS == 0, "copy shape");
    static_assert(WARPS * G * D * 4 <= SplitSmem<T, D>::BYTES, "reduction buffer");

    extern __shared__ uint4 smem_raw[];
    T* const s_kv = reinterpret_cast<T*>(smem_raw);  // [stage][K|V][TILE][D]
    __shared__ float s_p[G][TILE];
    __shared__ float s_m[G], s_l[G], s_alpha[G];

    // kv_major: blocks of one row's KV heads are adjacent in launch order, so they read the
    // neighbouring 256-byte pieces of the same slot rows at about the same time.
    const int row = kv_major ? blockIdx.y : blockIdx.x;
    const int kvh = kv_major ? blockIdx.x : blockIdx.y;
    const int split = blockIdx.z, nsplit = gridDim.z;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int c = tid % CH, r = tid / CH;
    const int hq = kv_heads * G;

    // The sequence of this row: the largest b with qo_indptr[b] <= row.
    int lo = 0, hi = num_seqs - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) >> 1;
        if (qo_indptr[mid] <= row) lo = mid; else hi = mid - 1;
    }
    const int b = lo;
    const i64 kv_start = kv_indptr[b];
    const i64 seq_len = kv_indptr[b + 1] - kv_start;
    const i64 ext = qo_indptr[b + 1] - qo_indptr[b];
    i64 kv_len = seq_len - ext + (row - qo_indptr[b]) + 1;
    if (kv_len < 0) kv_len = 0;
    if (kv_len > seq_len) kv_len = seq_len;
    i64 chunk = (kv_len + nsplit - 1) / nsplit;
    chunk = ((chunk + TILE - 1) / TILE) * TILE;
    const i64 begin = (i64)split * chunk;
    const i64 end = begin + chunk < kv_len ? begin + chunk : kv_len;
    const int ntile = end > begin ? (int)((end - begin + TILE - 1) / TILE) : 0;

    // This thread's share of every tile copy: rows cr + k * PASS, 16-byte chunk cc.
    const int cr = tid / C16, cc = tid % C16;
    const i64 slot_stride = (i64)kv_heads * D;
    const char* k_src = reinterpret_cast<const char*>(k_cache + (i64)kvh * D) + cc * 16;
    const char* v_src = reinterpret_cast<const char*>(v_cache + (i64)kvh * D) + cc * 16;
    i64 sl[LOADS];
    auto fetch_slots = [&](int it) {
        const i64 base = begin + (i64)it * TILE;
#pragma unroll
        for (int k = 0; k < LOADS; ++k) {
            const i64 key = base + cr + k * PASS;
            sl[k] = key < end ? kv_indices[kv_start + key] : -1;
        }
    };
    auto issue = [&](int it) {
        T* sk = s_kv + (it & 1) * 2 * TILE * D;
        T* sv = sk + TILE * D;
#pragma unroll
        for (int k = 0; k < LOADS; ++k) {
            const int rr = cr + k * PASS;
            const i64 slot = sl[k] < 0 ? 0 : sl[k];
            const int bytes = sl[k] < 0 ? 0 : 16;  // rows past the end are zero-filled
            const i64 off = slot * slot_stride * (i64)sizeof(T);
            cp_async_16(smem_u32(reinterpret_cast<char*>(sk + rr * D) + cc * 16), k_src + off, bytes);
            cp_async_16(smem_u32(reinterpret_cast<char*>(sv + rr * D) + cc * 16), v_src + off, bytes);
        }
        asm volatile("cp.async.commit_group;\n" ::);
    };

    if (ntile > 0) {
        fetch_slots(0);
        issue(0);
        if (ntile > 1) fetch_slots(1);
    }

    float qf[G][8];
#pragma unroll
    for (int g = 0; g < G; ++g) {
        load8(q + row * q_stride + (kvh * G + g) * D + c * 8, qf[g]);
#pragma unroll
        for (int e = 0; e < 8; ++e) qf[g][e] *= scale_log2;
    }
    float acc[G][8];
#pragma unroll
    for (int g = 0; g < G; ++g)
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[g][e] = 0.f;
    if (tid < G) { s_m[tid] = NEG_INF; s_l[tid] = 0.f; }

    for (int it = 0; it < ntile; ++it) {
        const i64 base = begin + (i64)it * TILE;
        const int n = (int)(end - base < TILE ? end - base : TILE);
        asm volatile("cp.async.wait_group 0;\n" ::);
        __syncthreads();  // tile it is in shared memory; tile it-1 is done with its stage
        if (it + 1 < ntile) {
            issue(it + 1);
            if (it + 2 < ntile) fetch_slots(it + 2);
        }
        const T* sk = s_kv + (it & 1) * 2 * TILE * D;
        const T* sv = sk + TILE * D;

        // Scores: each CH-lane group owns one token at a time.
#pragma unroll
        for (int u = 0; u < PER; ++u) {
            const int j = r + u * R;
            float kf[8];
            load8(sk + j * D + c * 8, kf);
            float s[G];
#pragma unroll
            for (int g = 0; g < G; ++g) {
                float x = 0.f;
#pragma unroll
                for (int e = 0; e < 8; ++e) x = fmaf(qf[g][e], kf[e], x);
#pragma unroll
                for (int o = CH / 2; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
                s[g] = x;
            }
            if (c == 0) {
#pragma unroll
                for (int g = 0; g < G; ++g) s_p[g][j] = j < n ? s[g] : NEG_INF;
            }
        }
        __syncthreads();

        // Online softmax over the tile: one warp per head.
        for (int g = warp; g < G; g += WARPS) {
            const float a0 = s_p[g][lane], a1 = s_p[g][lane + 32];
            const float m_old = s_m[g];
            const float m_new = fmaxf(m_old, warp_max(fmaxf(a0, a1)));
            const float p0 = exp2f(a0 - m_new), p1 = exp2f(a1 - m_new);
            s_p[g][lane] = p0;
            s_p[g][lane + 32] = p1;
            const float sum = warp_sum(p0 + p1);
            if (lane == 0) {
                const float alpha = exp2f(m_old - m_new);
                s_alpha[g] = alpha;
                s_l[g] = s_l[g] * alpha + sum;
                s_m[g] = m_new;
            }
        }
        __syncthreads();

        // P.V: each thread accumulates its 8 dims for all G heads over its tokens.
#pragma unroll
        for (int g = 0; g < G; ++g) {
            const float alpha = s_alpha[g];
#pragma unroll
            for (int e = 0; e < 8; ++e) acc[g][e] *= alpha;
        }
#pragma unroll
        for (int u = 0; u < PER; ++u) {
            const int j = r + u * R;
            if (j < n) {
                float vf[8];
                load8(sv + j * D + c * 8, vf);
#pragma unroll
                for (int g = 0; g < G; ++g) {
                    const float p = s_p[g][j];
#pragma unroll
                    for (int e = 0; e < 8; ++e) acc[g][e] = fmaf(p, vf[e], acc[g][e]);
                }
            }
        }
    }

    // Sum the token lanes: first inside the warp, then across warps through shared memory
    // (reusing the tile buffers: every copy has landed and every tile is done).
#pragma unroll
    for (int g = 0; g < G; ++g)
#pragma unroll
        for (int e = 0; e < 8; ++e)
#pragma unroll
            for (int o = CH; o < 32; o <<= 1) acc[g][e] += __shfl_xor_sync(0xffffffffu, acc[g][e], o);
    float* s_red = reinterpret_cast<float*>(smem_raw);  // [WARPS][G * D]
    __syncthreads();
    if (lane < CH) {
#pragma unroll
        for (int g = 0; g < G; ++g)
#pragma unroll
            for (int e = 0; e < 8; ++e) s_red[warp * G * D + g * D + c * 8 + e] = acc[g][e];
    }
    __syncthreads();
    for (int idx = tid; idx < G * D; idx += THREADS) {
        const int g = idx / D, d = idx % D;
        float x = 0.f;
#pragma unroll
        for (int w = 0; w < WARPS; ++w) x += s_red[w * G * D + idx];
        const float l = s_l[g];
        const float o = l > 0.f ? x / l : 0.f;
        const int h = kvh * G + g;
        if (nsplit == 1) {
            out[row * out_stride + h * D + d] = from_float<T>(o);
        } else {
            const i64 p = ((i64)row * hq + h) * nsplit + split;
            part_o[p * D + d] = o;
            if (d == 0) part_lse[p] = l > 0.f ? s_m[g] + log2f(l) : NEG_INF;
        }
    }
}

// attn_split_regs: the same computation as attn_split with K/V loaded straight into
// registers (no shared-memory staging, no prefetch), 4 warps. Fewer resources per block,
// so more blocks per multiprocessor. Tiles of 64 tokens: scores -> online softmax
// (log2 domain) -> P.V.
// With gridDim.z == 1 the result goes straight to `out`; else normalized partial
// outputs and their log2-sum-exp go to part_o / part_lse for attn_merge.
template <typename T, int D, int G>
__global__ void __launch_bounds__(128)
attn_split_regs(const T* __restrict__ q, i64 q_stride, const T* __restrict__ k_cache,
           const T* __restrict__ v_cache, int kv_heads, const i64* __restrict__ qo_indptr,
           const i64* __restrict__ kv_indptr, const i64* __restrict__ kv_indices, int num_seqs,
           float scale_log2, T* __restrict__ out, i64 out_stride, float* __restrict__ part_o,
           float* __restrict__ part_lse, int kv_major) {
    constexpr int THREADS = 128;
    constexpr int CH = D / 8;          // 8-element chunks per row
    constexpr int R = THREADS / CH;    // token lanes
    constexpr int TILE = 64;
    constexpr int PER = TILE / R;      // tokens per thread per tile
    constexpr int WARPS = THREADS / 32;
    static_assert(D % 8 == 0 && THREADS % CH == 0 && TILE % R == 0 && CH <= 32, "shape");

    __shared__ i64 s_slot[TILE];
    __shared__ float s_p[G][TILE];
    __shared__ float s_m[G], s_l[G], s_alpha[G];
    __shared__ float s_red[WARPS][G * D];

    const int row = kv_major ? blockIdx.y : blockIdx.x;
    const int kvh = kv_major ? blockIdx.x : blockIdx.y;
    const int split = blockIdx.z, nsplit = gridDim.z;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int c = tid % CH, r = tid / CH;
    const int hq = kv_heads * G;

    // The sequence of this row: the largest b with qo_indptr[b] <= row.
    int lo = 0, hi = num_seqs - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) >> 1;
        if (qo_indptr[mid] <= row) lo = mid; else hi = mid - 1;
    }
    const int b = lo;
    const i64 kv_start = kv_indptr[b];
    const i64 seq_len = kv_indptr[b + 1] - kv_start;
    const i64 ext = qo_indptr[b + 1] - qo_indptr[b];
    i64 kv_len = seq_len - ext + (row - qo_indptr[b]) + 1;
    if (kv_len < 0) kv_len = 0;
    if (kv_len > seq_len) kv_len = seq_len;
    i64 chunk = (kv_len + nsplit - 1) / nsplit;
    chunk = ((chunk + TILE - 1) / TILE) * TILE;
    const i64 begin = (i64)split * chunk;
    const i64 end = begin + chunk < kv_len ? begin + chunk : kv_len;

    float qf[G][8];
#pragma unroll
    for (int g = 0; g < G; ++g) {
        load8(q + row * q_stride + (kvh * G + g) * D + c * 8, qf[g]);
#pragma unroll
        for (int e = 0; e < 8; ++e) qf[g][e] *= scale_log2;
    }
    float acc[G][8];
#pragma unroll
    for (int g = 0; g < G; ++g)
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[g][e] = 0.f;
    if (tid < G) { s_m[tid] = NEG_INF; s_l[tid] = 0.f; }

    const T* k_base = k_cache + (i64)kvh * D + c * 8;
    const T* v_base = v_cache + (i64)kvh * D + c * 8;
    const i64 slot_stride = (i64)kv_heads * D;

    for (i64 base = begin; base < end; base += TILE) {
        const int n = (int)(end - base < TILE ? end - base : TILE);
        __syncthreads();  // the previous tile is done with s_slot / s_p
        if (tid < TILE) s_slot[tid] = tid < n ? kv_indices[kv_start + base + tid] : 0;
        __syncthreads();

        // Scores: each CH-lane group owns one token at a time.
        Vec8<T> kr[PER];
#pragma unroll
        for (int u = 0; u < PER; ++u) kr[u] = load_raw8(k_base + s_slot[r + u * R] * slot_stride);
#pragma unroll
        for (int u = 0; u < PER; ++u) {
            float kf[8];
            unpack8(kr[u], kf);
            float s[G];
#pragma unroll
            for (int g = 0; g < G; ++g) {
                float x = 0.f;
#pragma unroll
                for (int e = 0; e < 8; ++e) x = fmaf(qf[g][e], kf[e], x);
#pragma unroll
                for (int o = CH / 2; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
                s[g] = x;
            }
            const int j = r + u * R;
            if (c == 0) {
#pragma unroll
                for (int g = 0; g < G; ++g) s_p[g][j] = j < n ? s[g] : NEG_INF;
            }
        }
        __syncthreads();

        // Online softmax over the tile: one warp per head.
        for (int g = warp; g < G; g += WARPS) {
            const float a0 = s_p[g][lane], a1 = s_p[g][lane + 32];
            const float m_old = s_m[g];
            const float m_new = fmaxf(m_old, warp_max(fmaxf(a0, a1)));
            const float p0 = exp2f(a0 - m_new), p1 = exp2f(a1 - m_new);
            s_p[g][lane] = p0;
            s_p[g][lane + 32] = p1;
            const float sum = warp_sum(p0 + p1);
            if (lane == 0) {
                const float alpha = exp2f(m_old - m_new);
                s_alpha[g] = alpha;
                s_l[g] = s_l[g] * alpha + sum;
                s_m[g] = m_new;
            }
        }
        __syncthreads();

        // P.V: each thread accumulates its 8 dims for all G heads over its tokens.
        Vec8<T> vr[PER];
#pragma unroll
        for (int u = 0; u < PER; ++u) vr[u] = load_raw8(v_base + s_slot[r + u * R] * slot_stride);
#pragma unroll
        for (int g = 0; g < G; ++g) {
            const float alpha = s_alpha[g];
#pragma unroll
            for (int e = 0; e < 8; ++e) acc[g][e] *= alpha;
        }
#pragma unroll
        for (int u = 0; u < PER; ++u) {
            const int j = r + u * R;
            if (j < n) {
                float vf[8];
                unpack8(vr[u], vf);
#pragma unroll
                for (int g = 0; g < G; ++g) {
                    const float p = s_p[g][j];
#pragma unroll
                    for (int e = 0; e < 8; ++e) acc[g][e] = fmaf(p, vf[e], acc[g][e]);
                }
            }
        }
    }

    // Sum the token lanes: first inside the warp, then across warps through shared memory.
#pragma unroll
    for (int g = 0; g < G; ++g)
#pragma unroll
        for (int e = 0; e < 8; ++e)
#pragma unroll
            for (int o = CH; o < 32; o <<= 1) acc[g][e] += __shfl_xor_sync(0xffffffffu, acc[g][e], o);
    __syncthreads();
    if (lane < CH) {
#pragma unroll
        for (int g = 0; g < G; ++g)
#pragma unroll
            for (int e = 0; e < 8; ++e) s_red[warp][g * D + c * 8 + e] = acc[g][e];
    }
    __syncthreads();
    for (int idx = tid; idx < G * D; idx += THREADS) {
        const int g = idx / D, d = idx % D;
        float x = 0.f;
#pragma unroll
        for (int w = 0; w < WARPS; ++w) x += s_red[w][idx];
        const float l = s_l[g];
        const float o = l > 0.f ? x / l : 0.f;
        const int h = kvh * G + g;
        if (nsplit == 1) {
            out[row * out_stride + h * D + d] = from_float<T>(o);
        } else {
            const i64 p = ((i64)row * hq + h) * nsplit + split;
            part_o[p * D + d] = o;
            if (d == 0) part_lse[p] = l > 0.f ? s_m[g] + log2f(l) : NEG_INF;
        }
    }
}



// attn_split_mma: the split-KV computation on tensor cores (mma.sync m16n8k16, bf16/fp16,
// fp32 accumulate), for decode rows with GQA. No shared memory or block barrier in the main
// loop: each warp streams its own 16-token tiles (tile w, w + WARPS, ...) with 16-byte loads
// straight into fragment registers, keeps its own online softmax, and issues the next tile's
// K (V) loads as soon as this tile's K (V) registers are consumed; the warps merge at the end.
//
// Lane (g, t) = (lane / 4, lane % 4).
// S = Q.K^T: the G query heads are the M rows (rows G..15 zero); a 16-token tile is two n=8
//   halves, K row g and g + 8. The head-dim order inside a k step is free as long as Q and K
//   agree: thread t owns chunks (16 bytes) 4i + t of a row, word w of chunk i feeding k step
//   2i + w / 2 — coalesced 64-byte pieces. Thread (g, t) ends with S[head g] of tokens
//   2t, 2t+1, 2t+8, 2t+9: exactly the B operand (P^T, tokens x heads) of the next product.
// O^T = V^T.P^T: dims are the M rows (all 16 useful), heads the N columns, the 16 tokens the
//   k step. Thread (g, t) loads V rows 2t, 2t+1, 2t+8, 2t+9 (chunks g + 8h) and packs element
//   pairs of two rows into the A registers; O^T rows (g, g + 8) of m tile mt are the dims
//   dim_of(g, mt), dim_of(g + 8, mt) below, columns 2t, 2t + 1 the heads.
template <typename T> struct DecMma;
template <> struct DecMma<bf16> {
    // rows 8..15 of A are zero and their results dropped (Q.K^T)
    static __device__ __forceinline__ void half(float& d0, float& d1, u32 a0, u32 a2, u32 b0,
                                                u32 b1) {
        float z0, z1;
        asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, "
            "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%10,%11};\n"
            : "+f"(d0), "+f"(d1), "=f"(z0), "=f"(z1)
            : "r"(a0), "r"(0u), "r"(a2), "r"(0u), "r"(b0), "r"(b1), "f"(0.f), "f"(0.f));
        (void)z0;
        (void)z1;
    }
    static __device__ __forceinline__ void full(float* d, u32 a0, u32 a1, u32 a2, u32 a3,
                                                u32 b0, u32 b1) {
        asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, "
            "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    }
    static __device__ __forceinline__ u32 pack(float lo, float hi) {
        u32 r;
        asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
        return r;
    }
};
template <> struct DecMma<f16> {
    static __device__ __forceinline__ void half(float& d0, float& d1, u32 a0, u32 a2, u32 b0,
                                                u32 b1) {
        float z0, z1;
        asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, "
            "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%10,%11};\n"
            : "+f"(d0), "+f"(d1), "=f"(z0), "=f"(z1)
            : "r"(a0), "r"(0u), "r"(a2), "r"(0u), "r"(b0), "r"(b1), "f"(0.f), "f"(0.f));
        (void)z0;
        (void)z1;
    }
    static __device__ __forceinline__ void full(float* d, u32 a0, u32 a1, u32 a2, u32 a3,
                                                u32 b0, u32 b1) {
        asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, "
            "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    }
    static __device__ __forceinline__ u32 pack(float lo, float hi) {
        u32 r;
        asm("cvt.rn.f16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
        return r;
    }
};

__device__ __forceinline__ u32 word_of(const uint4& v, int w) {
    return w == 0 ? v.x : w == 1 ? v.y : w == 2 ? v.z : v.w;
}
__device__ __forceinline__ uint4 ldg16(const char* p) {
    return __ldg(reinterpret_cast<const uint4*>(p));
}
// Element e (0..7) of two 16-byte chunks x (low half) and y (high half), packed.
__device__ __forceinline__ u32 pair_of(const uint4& x, const uint4& y, int e) {
    return __byte_perm(word_of(x, e >> 1), word_of(y, e >> 1), (e & 1) ? 0x7632u : 0x5410u);
}

template <typename T, int D, int G, int WARPS, int MINB>
__global__ void __launch_bounds__(WARPS * 32, MINB)
attn_split_mma(const T* __restrict__ q, i64 q_stride, const T* __restrict__ k_cache,
               const T* __restrict__ v_cache, int kv_heads, const i64* __restrict__ qo_indptr,
               const i64* __restrict__ kv_indptr, const i64* __restrict__ kv_indices,
               int num_seqs, float scale_log2, T* __restrict__ out, i64 out_stride,
               float* __restrict__ part_o, float* __restrict__ part_lse, int kv_major) {
    constexpr int KT = 16;        // tokens per warp step
    constexpr int TILE = 64;      // split chunks are whole multiples of this (as attn_split)
    constexpr int QC = D / 32;    // Q/K chunks per thread per row
    constexpr int VH = D / 64;    // V chunks per thread per row: g + 8h
    constexpr int MT = D / 16;    // m tiles of O^T
    static_assert((D == 64 || D == 128) && G >= 1 && G <= 8, "shape");
    __shared__ float s_m[WARPS][G], s_l[WARPS][G];
    __shared__ float s_o[WARPS][G][D];

    const int row = kv_major ? blockIdx.y : blockIdx.x;
    const int kvh = kv_major ? blockIdx.x : blockIdx.y;
    const int split = blockIdx.z, nsplit = gridDim.z;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int hq = kv_heads * G;

    int lo = 0, hi = num_seqs - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) >> 1;
        if (qo_indptr[mid] <= row) lo = mid; else hi = mid - 1;
    }
    const int b = lo;
    const i64 kv_start = kv_indptr[b];
    const i64 seq_len = kv_indptr[b + 1] - kv_start;
    const i64 ext = qo_indptr[b + 1] - qo_indptr[b];
    i64 kv_len = seq_len - ext + (row - qo_indptr[b]) + 1;
    if (kv_len < 0) kv_len = 0;
    if (kv_len > seq_len) kv_len = seq_len;
    i64 chunk = (kv_len + nsplit - 1) / nsplit;
    chunk = ((chunk + TILE - 1) / TILE) * TILE;
    const i64 begin = (i64)split * chunk;
    const i64 end = begin + chunk < kv_len ? begin + chunk : kv_len;

    // Q fragments of head g (zero rows for g >= G).
    uint4 qa[QC];
#pragma unroll
    for (int i = 0; i < QC; ++i) {
        qa[i] = make_uint4(0u, 0u, 0u, 0u);
        if (g < G)
            qa[i] = *reinterpret_cast<const uint4*>(q + row * q_stride + (kvh * G + g) * D +
                                                   (4 * i + t) * 8);
    }

    const i64 slot_bytes = (i64)kv_heads * D * (i64)sizeof(T);
    const char* kb = reinterpret_cast<const char*>(k_cache + (i64)kvh * D) + t * 16;
    const char* vb = reinterpret_cast<const char*>(v_cache + (i64)kvh * D) + g * 16;
    const i64* idx = kv_indices + kv_start;

    float m = NEG_INF, l = 0.f;  // head g: running max (log2 domain) and this thread's sum
    float acc[MT][4];            // O^T: dims (g, g + 8) of tile mt x heads (2t, 2t + 1)
#pragma unroll
    for (int j = 0; j < MT; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;

    // Slots of this thread's rows: K rows g, g + 8; V rows 2t, 2t + 1, 2t + 8, 2t + 9.
    i64 sk[2], sv[4];
    auto fetch = [&](i64 base) {
        const int rk[2] = {g, g + 8};
        const int rv[4] = {2 * t, 2 * t + 1, 2 * t + 8, 2 * t + 9};
#pragma unroll
        for (int u = 0; u < 2; ++u) sk[u] = base + rk[u] < end ? __ldg(idx + base + rk[u]) : 0;
#pragma unroll
        for (int u = 0; u < 4; ++u) sv[u] = base + rv[u] < end ? __ldg(idx + base + rv[u]) : 0;
    };
    uint4 kr[2][QC], vr[4][VH];
    auto load_k = [&]() {
#pragma unroll
        for (int u = 0; u < 2; ++u)
#pragma unroll
            for (int i = 0; i < QC; ++i) kr[u][i] = ldg16(kb + sk[u] * slot_bytes + i * 64);
    };
    auto load_v = [&]() {
#pragma unroll
        for (int u = 0; u < 4; ++u)
#pragma unroll
            for (int h = 0; h < VH; ++h) vr[u][h] = ldg16(vb + sv[u] * slot_bytes + h * 128);
    };
    constexpr i64 STEP = (i64)WARPS * KT;
    i64 base = begin + (i64)warp * KT;
    if (base < end) {
        fetch(base);
        load_k();
        load_v();
        if (base + STEP < end) fetch(base + STEP);
    }

    for (; base < end; base += STEP) {
        const int n = (int)(end - base < KT ? end - base : KT);
        const bool more = base + STEP < end;

        // S for head g, tokens nt * 8 + 2t + j; two accumulation chains per half.
        float s[2][2];
#pragma unroll
        for (int nt = 0; nt < 2; ++nt) {
            float e0 = 0.f, e1 = 0.f, o0 = 0.f, o1 = 0.f;
#pragma unroll
            for (int ks = 0; ks < D / 16; ++ks) {
                const int i = ks >> 1, w = 2 * (ks & 1);
                const u32 a0 = word_of(qa[i], w), a2 = word_of(qa[i], w + 1);
                const u32 b0 = word_of(kr[nt][i], w), b1 = word_of(kr[nt][i], w + 1);
                if (ks & 1) DecMma<T>::half(o0, o1, a0, a2, b0, b1);
                else DecMma<T>::half(e0, e1, a0, a2, b0, b1);
            }
            s[nt][0] = e0 + o0;
            s[nt][1] = e1 + o1;
        }
        if (more) load_k();

        float mx = NEG_INF;
#pragma unroll
        for (int nt = 0; nt < 2; ++nt)
#pragma unroll
            for (int j = 0; j < 2; ++j) {
                const int tok = nt * 8 + 2 * t + j;
                s[nt][j] = tok < n ? s[nt][j] * scale_log2 : NEG_INF;
                mx = fmaxf(mx, s[nt][j]);
            }
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float m_new = fmaxf(m, mx);  // finite: token 0 of the tile is valid
        const float alpha = exp2f(m - m_new);
        m = m_new;
        float p[2][2];
        float psum = 0.f;
#pragma unroll
        for (int nt = 0; nt < 2; ++nt)
#pragma unroll
            for (int j = 0; j < 2; ++j) {
                p[nt][j] = exp2f(s[nt][j] - m_new);
                psum += p[nt][j];
            }
        l = l * alpha + psum;
        // O^T columns 2t, 2t + 1 are heads 2t, 2t + 1: their rescale comes from lanes 8t, 8t + 4.
        const float al0 = __shfl_sync(0xffffffffu, alpha, 8 * t);
        const float al1 = __shfl_sync(0xffffffffu, alpha, 8 * t + 4);
#pragma unroll
        for (int j = 0; j < MT; ++j) {
            acc[j][0] *= al0;
            acc[j][1] *= al1;
            acc[j][2] *= al0;
            acc[j][3] *= al1;
        }
        // Rows past the end of the range are zero in V (slot 0 may hold anything).
#pragma unroll
        for (int u = 0; u < 4; ++u) {
            const int tok = (u >> 1) * 8 + 2 * t + (u & 1);
            if (tok >= n)
#pragma unroll
                for (int h = 0; h < VH; ++h) vr[u][h] = make_uint4(0u, 0u, 0u, 0u);
        }
        const u32 pb0 = DecMma<T>::pack(p[0][0], p[0][1]);  // tokens 2t, 2t + 1
        const u32 pb1 = DecMma<T>::pack(p[1][0], p[1][1]);  // tokens 2t + 8, 2t + 9
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
            // rows g / g + 8 of tile mt: (chunk, element) = (g, mt) / (g + 8, mt) at D = 128,
            // (g, 2 mt) / (g, 2 mt + 1) at D = 64.
            const int hl = 0, hh = VH - 1;
            const int el = VH == 2 ? mt : 2 * mt, eh = VH == 2 ? mt : 2 * mt + 1;
            const u32 a0 = pair_of(vr[0][hl], vr[1][hl], el);
            const u32 a1 = pair_of(vr[0][hh], vr[1][hh], eh);
            const u32 a2 = pair_of(vr[2][hl], vr[3][hl], el);
            const u32 a3 = pair_of(vr[2][hh], vr[3][hh], eh);
            DecMma<T>::full(acc[mt], a0, a1, a2, a3, pb0, pb1);
        }
        if (more) {
            load_v();
            if (base + 2 * STEP < end) fetch(base + 2 * STEP);
        }
    }

    // Merge: the quad's partial sums, then the warps through shared memory.
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    if (g < G && t == 0) { s_m[warp][g] = m; s_l[warp][g] = l; }
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
        const int dl = VH == 2 ? 8 * g + mt : 8 * g + 2 * mt;
        const int dh = VH == 2 ? 8 * (g + 8) + mt : 8 * g + 2 * mt + 1;
        if (2 * t < G) {
            s_o[warp][2 * t][dl] = acc[mt][0];
            s_o[warp][2 * t][dh] = acc[mt][2];
        }
        if (2 * t + 1 < G) {
            s_o[warp][2 * t + 1][dl] = acc[mt][1];
            s_o[warp][2 * t + 1][dh] = acc[mt][3];
        }
    }
    __syncthreads();
    for (int ix = tid; ix < G * D; ix += WARPS * 32) {
        const int gg = ix / D, d = ix % D;
        float mm = NEG_INF;
#pragma unroll
        for (int w = 0; w < WARPS; ++w) mm = fmaxf(mm, s_m[w][gg]);
        float x = 0.f, ll = 0.f;
        if (mm != NEG_INF) {
#pragma unroll
            for (int w = 0; w < WARPS; ++w) {
                const float f = exp2f(s_m[w][gg] - mm);
                ll = fmaf(f, s_l[w][gg], ll);
                x = fmaf(f, s_o[w][gg][d], x);
            }
        }
        const float o = ll > 0.f ? x / ll : 0.f;
        const int h = kvh * G + gg;
        if (nsplit == 1) {
            out[row * out_stride + h * D + d] = from_float<T>(o);
        } else {
            const i64 pidx = ((i64)row * hq + h) * nsplit + split;
            part_o[pidx * D + d] = o;
            if (d == 0) part_lse[pidx] = ll > 0.f ? mm + log2f(ll) : NEG_INF;
        }
    }
}

// Combine the splits of one (row, head): weights 2^(lse_s - max).
template <typename T>
__global__ void attn_merge(const float* __restrict__ part_o, const float* __restrict__ part_lse,
                           int nsplit, int hq, int head_dim, T* __restrict__ out, i64 out_stride) {
    const int row = blockIdx.x, h = blockIdx.y;
    const i64 base = ((i64)row * hq + h) * nsplit;
    float m = NEG_INF;
    for (int s = 0; s < nsplit; ++s) m = fmaxf(m, part_lse[base + s]);
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
        float acc = 0.f, w = 0.f;
        if (m != NEG_INF) {
            for (int s = 0; s < nsplit; ++s) {
                const float e = exp2f(part_lse[base + s] - m);
                w += e;
                acc = fmaf(e, part_o[(base + s) * head_dim + d], acc);
            }
        }
        out[row * out_stride + h * head_dim + d] = from_float<T>(w > 0.f ? acc / w : 0.f);
    }
}
