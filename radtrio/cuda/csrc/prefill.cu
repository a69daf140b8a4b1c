// Ragged extend/prefill attention on tensor cores (mma.sync m16n8k16, bf16/fp16 in, fp32
// accumulate), over KV slots in the CSR layout of radtrio/models/batch.py.
//
// One block = one (work item, query head); a work item is (sequence b, first query row of a
// 64-row tile), listed by the host in `work` as int32 pairs. Four warps own 16 query rows
// each. K/V tiles of 64 keys are gathered slot by slot into shared memory with cp.async (K of
// the next tile loads during P.V, V during Q.K^T), and the online softmax runs on the mma
// accumulators in registers (FlashAttention-2 style). Query row i of the sequence (new token
// i) sees keys 0 .. prefix + i, prefix = seq_len - extend_len.

__device__ __forceinline__ u32 smem_addr(const void* p) {
    u32 addr;
    asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }\n" : "=r"(addr) : "l"(p));
    return addr;
}
__device__ __forceinline__ void cp_async16(u32 dst, const void* src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
                 "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}
__device__ __forceinline__ void ldsm_x4(u32 addr, u32& r0, u32& r1, u32& r2, u32& r3) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_t(u32 addr, u32& r0, u32& r1, u32& r2, u32& r3) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}

template <typename T> struct Mma;
template <> struct Mma<bf16> {
    static __device__ __forceinline__ void run(float* c, const u32* a, u32 b0, u32 b1) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
            "{%8,%9}, {%0,%1,%2,%3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
    static __device__ __forceinline__ u32 pack(float lo, float hi) {
        u32 r;
        asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
        return r;
    }
};
template <> struct Mma<f16> {
    static __device__ __forceinline__ void run(float* c, const u32* a, u32 b0, u32 b1) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
            "{%8,%9}, {%0,%1,%2,%3};\n"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
    static __device__ __forceinline__ u32 pack(float lo, float hi) {
        u32 r;
        asm("cvt.rn.f16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
        return r;
    }
};

template <typename T, int D>
__global__ void __launch_bounds__(128)
attn_prefill(const T* __restrict__ q, i64 q_stride, const T* __restrict__ k_cache,
             const T* __restrict__ v_cache, int kv_heads, int group,
             const i64* __restrict__ qo_indptr, const i64* __restrict__ kv_indptr,
             const i64* __restrict__ kv_indices, const int* __restrict__ work, float scale_log2,
             T* __restrict__ out, i64 out_stride) {
    constexpr int BM = 64, BN = 64, LD = D + 8;  // padded rows: conflict-free ldmatrix
    constexpr int CH = D / 8;                    // 16-byte chunks per row
    constexpr int KS = D / 16;                   // k-steps of Q.K^T
    constexpr int DT = D / 8;                    // 8-wide column tiles of O
    __shared__ alignas(16) T s_k[BN * LD];
    __shared__ alignas(16) T s_v[BN * LD];

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, t4 = lane & 3;
    const int b = work[2 * blockIdx.x], q_start = work[2 * blockIdx.x + 1];
    const int h = blockIdx.y, kvh = h / group;
    const i64 q0 = qo_indptr[b];
    const int ext = (int)(qo_indptr[b + 1] - q0);
    const i64 kv_start = kv_indptr[b];
    const int seq_len = (int)(kv_indptr[b + 1] - kv_start);
    const int prefix = seq_len - ext;
    const int q_end = q_start + BM < ext ? q_start + BM : ext;
    const int n_keys = prefix + q_end;  // keys the last valid row of this tile sees
    const int n_tiles = (n_keys + BN - 1) / BN;
    const i64 slot_stride = (i64)kv_heads * D;

    // Q tile -> shared (through s_k) -> A fragments in registers.
    for (int idx = tid; idx < BM * CH; idx += 128) {
        const int r = idx / CH, c = idx % CH;
        const int row = q_start + r;
        const T* src = q + (q0 + (row < ext ? row : 0)) * q_stride + (i64)h * D + c * 8;
        cp_async16(smem_addr(s_k + r * LD + c * 8), src, row < ext ? 16 : 0);
    }
    cp_async_commit();
    cp_async_wait<0>();
    __syncthreads();
    u32 qa[KS][4];
    {
        const int mi = lane >> 3, rr = lane & 7;
        const int row = warp * 16 + rr + (mi & 1) * 8;
#pragma unroll
        for (int ks = 0; ks < KS; ++ks) {
            const int col = ks * 16 + (mi >> 1) * 8;
            ldsm_x4(smem_addr(s_k + row * LD + col), qa[ks][0], qa[ks][1], qa[ks][2], qa[ks][3]);
        }
    }
    __syncthreads();

    auto load_tile = [&](T* dst, const T* cache, int base) {
        for (int idx = tid; idx < BN * CH; idx += 128) {
            const int r = idx / CH, c = idx % CH;
            const int key = base + r;
            const i64 slot = key < n_keys ? kv_indices[kv_start + key] : 0;
            const T* src = cache + slot * slot_stride + (i64)kvh * D + c * 8;
            cp_async16(smem_addr(dst + r * LD + c * 8), src, key < n_keys ? 16 : 0);
        }
        cp_async_commit();
    };

    // Rows of this thread: warp*16 + g and + 8; their key limits (exclusive).
    const int r0 = q_start + warp * 16 + g, r1 = r0 + 8;
    const int lim0 = prefix + (r0 < ext ? r0 : ext - 1) + 1;
    const int lim1 = prefix + (r1 < ext ? r1 : ext - 1) + 1;
    float m0 = NEG_INF, m1 = NEG_INF, l0 = 0.f, l1 = 0.f;
    float o[DT][4];
#pragma unroll
    for (int j = 0; j < DT; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.f;

    load_tile(s_k, k_cache, 0);
    load_tile(s_v, v_cache, 0);
    for (int tile = 0; tile < n_tiles; ++tile) {
        const int base = tile * BN;
        cp_async_wait<1>();  // K of this tile
        __syncthreads();

        float s[BN / 8][4];
#pragma unroll
        for (int j = 0; j < BN / 8; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
        {
            const int mi = lane >> 3, rr = lane & 7;
#pragma unroll
            for (int ks = 0; ks < KS; ++ks) {
#pragma unroll
                for (int j = 0; j < BN / 8; j += 2) {
                    const int key = j * 8 + (mi >> 1) * 8 + rr;
                    const int col = ks * 16 + (mi & 1) * 8;
                    u32 b0, b1, b2, b3;
                    ldsm_x4(smem_addr(s_k + key * LD + col), b0, b1, b2, b3);
                    Mma<T>::run(s[j], qa[ks], b0, b1);
                    Mma<T>::run(s[j + 1], qa[ks], b2, b3);
                }
            }
        }
        // Scale, mask, online softmax (rows r0: s[.][0..1], r1: s[.][2..3]).
        float mx0 = NEG_INF, mx1 = NEG_INF;
#pragma unroll
        for (int j = 0; j < BN / 8; ++j) {
            const int key = base + j * 8 + 2 * t4;
            s[j][0] = key < lim0 ? s[j][0] * scale_log2 : NEG_INF;
            s[j][1] = key + 1 < lim0 ? s[j][1] * scale_log2 : NEG_INF;
            s[j][2] = key < lim1 ? s[j][2] * scale_log2 : NEG_INF;
            s[j][3] = key + 1 < lim1 ? s[j][3] * scale_log2 : NEG_INF;
            mx0 = fmaxf(mx0, fmaxf(s[j][0], s[j][1]));
            mx1 = fmaxf(mx1, fmaxf(s[j][2], s[j][3]));
        }
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
        const float n0 = fmaxf(m0, mx0), n1 = fmaxf(m1, mx1);
        // A row with every key masked so far keeps m = -inf; use 0 as its reference.
        const float ref0 = n0 == NEG_INF ? 0.f : n0, ref1 = n1 == NEG_INF ? 0.f : n1;
        const float a0 = exp2f(m0 - ref0), a1 = exp2f(m1 - ref1);
        m0 = n0;
        m1 = n1;
        float sum0 = 0.f, sum1 = 0.f;
        u32 pa[BN / 16][4];
#pragma unroll
        for (int j = 0; j < BN / 8; ++j) {
            const float p0 = exp2f(s[j][0] - ref0), p1 = exp2f(s[j][1] - ref0);
            const float p2 = exp2f(s[j][2] - ref1), p3 = exp2f(s[j][3] - ref1);
            sum0 += p0 + p1;
            sum1 += p2 + p3;
            // C fragment of keys 8j.. -> A fragment of k-step j/2 (FlashAttention-2 reuse).
            pa[j / 2][(j & 1) * 2 + 0] = Mma<T>::pack(p0, p1);
            pa[j / 2][(j & 1) * 2 + 1] = Mma<T>::pack(p2, p3);
        }
        l0 = l0 * a0 + sum0;
        l1 = l1 * a1 + sum1;
#pragma unroll
        for (int j = 0; j < DT; ++j) {
            o[j][0] *= a0; o[j][1] *= a0;
            o[j][2] *= a1; o[j][3] *= a1;
        }

        __syncthreads();  // every warp is done with s_k
        if (tile + 1 < n_tiles) {
            load_tile(s_k, k_cache, base + BN);
            cp_async_wait<1>();  // V of this tile
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        {
            const int mi = lane >> 3, rr = lane & 7;
#pragma unroll
            for (int ks = 0; ks < BN / 16; ++ks) {
#pragma unroll
                for (int j = 0; j < DT; j += 2) {
                    const int key = ks * 16 + (mi & 1) * 8 + rr;
                    const int col = (j + (mi >> 1)) * 8;
                    u32 b0, b1, b2, b3;
                    ldsm_x4_t(smem_addr(s_v + key * LD + col), b0, b1, b2, b3);
                    Mma<T>::run(o[j], pa[ks], b0, b1);
                    Mma<T>::run(o[j + 1], pa[ks], b2, b3);
                }
            }
        }
        __syncthreads();  // every warp is done with s_v
        if (tile + 1 < n_tiles) load_tile(s_v, v_cache, base + BN);
    }

    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    const float inv0 = l0 > 0.f ? 1.f / l0 : 0.f, inv1 = l1 > 0.f ? 1.f / l1 : 0.f;
#pragma unroll
    for (int j = 0; j < DT; ++j) {
        const int col = j * 8 + 2 * t4;
        if (r0 < ext) {
            T* dst = out + (q0 + r0) * out_stride + (i64)h * D + col;
            *reinterpret_cast<u32*>(dst) = Mma<T>::pack(o[j][0] * inv0, o[j][1] * inv0);
        }
        if (r1 < ext) {
            T* dst = out + (q0 + r1) * out_stride + (i64)h * D + col;
            *reinterpret_cast<u32*>(dst) = Mma<T>::pack(o[j][2] * inv1, o[j][3] * inv1);
        }
    }
}
