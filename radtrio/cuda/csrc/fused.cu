// Fused elementwise/row kernels of the Llama forward pass: RMSNorm (optionally with the
// residual add), RoPE in place, SiLU-and-mul. Each one replaces several torch launches
// and rounds where torch rounds, so the CUDA path tracks the torch path closely.

// out = x / sqrt(mean(x^2) + eps) * w, in float, rounded once (as F.rms_norm).
// With a residual: h = round(x + residual) is written to res_out and normalized.
template <typename T>
__global__ void rms_norm(const T* __restrict__ x, i64 x_stride, const T* __restrict__ residual,
                         i64 r_stride, const T* __restrict__ w, T* __restrict__ out,
                         i64 out_stride, T* __restrict__ res_out, i64 res_stride, int hidden,
                         float eps) {
    __shared__ float s_part[32];
    const int t = blockIdx.x;
    const int n = hidden / 8;
    const T* xr = x + t * x_stride;
    const T* rr = residual ? residual + t * r_stride : nullptr;
    float ss = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        float a[8];
        load8(xr + i * 8, a);
        if (rr) {
            float b[8];
            load8(rr + i * 8, b);
#pragma unroll
            for (int e = 0; e < 8; ++e) a[e] = round_to<T>(a[e] + b[e]);
            store8(res_out + t * res_stride + i * 8, a);
        }
#pragma unroll
        for (int e = 0; e < 8; ++e) ss = fmaf(a[e], a[e], ss);
    }
    ss = warp_sum(ss);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) s_part[warp] = ss;
    __syncthreads();
    if (warp == 0) {
        float v = lane < (int)(blockDim.x >> 5) ? s_part[lane] : 0.f;
        v = warp_sum(v);
        if (lane == 0) s_part[0] = v;
    }
    __syncthreads();
    const float rstd = rsqrtf(s_part[0] / (float)hidden + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        float a[8], ww[8];
        load8(xr + i * 8, a);
        if (rr) {
            float b[8];
            load8(rr + i * 8, b);
#pragma unroll
            for (int e = 0; e < 8; ++e) a[e] = round_to<T>(a[e] + b[e]);
        }
        load8(w + i * 8, ww);
#pragma unroll
        for (int e = 0; e < 8; ++e) a[e] = a[e] * rstd * ww[e];
        store8(out + t * out_stride + i * 8, a);
    }
}

// Rotate-half RoPE in place on x [T, heads, head_dim] (row stride x_stride, heads
// contiguous), with the model's tables: cos = [c, c], sin = [-s, s] per position.
// As torch's addcmul(x * cos, swapped, sin): round(round(x * cos) + swapped * sin).
template <typename T>
__global__ void rope_inplace(T* __restrict__ x, i64 x_stride, int heads, int head_dim,
                             const i64* __restrict__ positions, const T* __restrict__ cos,
                             const T* __restrict__ sin, i64 table_stride) {
    const int t = blockIdx.x;
    const i64 pos = positions[t];
    const int half = head_dim / 2;
    const T* cr = cos + pos * table_stride;
    const T* sr = sin + pos * table_stride;
    for (int i = threadIdx.x; i < heads * half; i += blockDim.x) {
        const int h = i / half, j = i % half;
        T* p = x + t * x_stride + h * head_dim;
        const float x1 = to_float(p[j]), x2 = to_float(p[j + half]);
        const float y1 = round_to<T>(x1 * to_float(cr[j])) + x2 * to_float(sr[j]);
        const float y2 = round_to<T>(x2 * to_float(cr[j + half])) + x1 * to_float(sr[j + half]);
        p[j] = from_float<T>(y1);
        p[j + half] = from_float<T>(y2);
    }
}

// out = silu(gate) * up with gate = gu[:, :inter], up = gu[:, inter:], as torch rounds:
// round(round(silu(gate)) * up).
template <typename T>
__global__ void silu_mul(const T* __restrict__ gu, i64 gu_stride, int inter,
                         T* __restrict__ out, i64 out_stride) {
    const int t = blockIdx.y;
    const int i = (blockIdx.x * blockDim.x + threadIdx.x) * 8;
    if (i >= inter) return;
    float g[8], u[8];
    load8(gu + t * gu_stride + i, g);
    load8(gu + t * gu_stride + inter + i, u);
#pragma unroll
    for (int e = 0; e < 8; ++e) g[e] = round_to<T>(g[e] / (1.f + __expf(-g[e]))) * u[e];
    store8(out + t * out_stride + i, g);
}
