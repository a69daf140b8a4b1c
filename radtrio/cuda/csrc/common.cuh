// Shared helpers for radtrio's CUDA kernels. Prepended to every .cu source by
// radtrio/cuda/module.py, so the kernels compile under NVRTC without any header:
// 16-bit floats are handled as raw bits with PTX conversions.

typedef long long i64;
typedef unsigned short u16;
typedef unsigned int u32;

// Storage types: raw bits, so the kernels need no cuda_fp16.h / cuda_bf16.h.
struct bf16 { u16 bits; };
struct f16 { u16 bits; };

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(bf16 x) { return __uint_as_float(((u32)x.bits) << 16); }
__device__ __forceinline__ float to_float(f16 x) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x.bits));
    return f;
}

template <typename T> __device__ __forceinline__ T from_float(float x);
template <> __device__ __forceinline__ float from_float<float>(float x) { return x; }
template <> __device__ __forceinline__ bf16 from_float<bf16>(float x) {
    bf16 r;
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(r.bits) : "f"(x));
    return r;
}
template <> __device__ __forceinline__ f16 from_float<f16>(float x) {
    f16 r;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(r.bits) : "f"(x));
    return r;
}

// Round a float through the storage type (to mimic torch's per-op rounding).
template <typename T> __device__ __forceinline__ float round_to(float x) {
    return to_float(from_float<T>(x));
}

// 8 consecutive elements <-> 8 floats, with 16-byte accesses (two for float).
// The pointer must be 16-byte aligned (callers check alignment on the host).
template <typename T> __device__ __forceinline__ void load8(const T* p, float* out) {
    uint4 raw = *reinterpret_cast<const uint4*>(p);
    const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
    for (int i = 0; i < 8; ++i) out[i] = to_float(e[i]);
}
template <> __device__ __forceinline__ void load8<float>(const float* p, float* out) {
    float4 a = reinterpret_cast<const float4*>(p)[0];
    float4 b = reinterpret_cast<const float4*>(p)[1];
    out[0] = a.x; out[1] = a.y; out[2] = a.z; out[3] = a.w;
    out[4] = b.x; out[5] = b.y; out[6] = b.z; out[7] = b.w;
}

template <typename T> __device__ __forceinline__ void store8(T* p, const float* in) {
    uint4 raw;
    T* e = reinterpret_cast<T*>(&raw);
#pragma unroll
    for (int i = 0; i < 8; ++i) e[i] = from_float<T>(in[i]);
    *reinterpret_cast<uint4*>(p) = raw;
}
template <> __device__ __forceinline__ void store8<float>(float* p, const float* in) {
    reinterpret_cast<float4*>(p)[0] = make_float4(in[0], in[1], in[2], in[3]);
    reinterpret_cast<float4*>(p)[1] = make_float4(in[4], in[5], in[6], in[7]);
}

// A raw 16-byte-per-8-elements copy unit (for moving rows without conversion).
template <typename T> struct Vec8 { uint4 a; };
template <> struct Vec8<float> { uint4 a; uint4 b; };
template <typename T> __device__ __forceinline__ Vec8<T> load_raw8(const T* p) {
    Vec8<T> v; v.a = *reinterpret_cast<const uint4*>(p); return v;
}
template <> __device__ __forceinline__ Vec8<float> load_raw8<float>(const float* p) {
    Vec8<float> v;
    v.a = reinterpret_cast<const uint4*>(p)[0];
    v.b = reinterpret_cast<const uint4*>(p)[1];
    return v;
}
template <typename T> __device__ __forceinline__ void store_raw8(T* p, const Vec8<T>& v) {
    *reinterpret_cast<uint4*>(p) = v.a;
}
template <> __device__ __forceinline__ void store_raw8<float>(float* p, const Vec8<float>& v) {
    reinterpret_cast<uint4*>(p)[0] = v.a;
    reinterpret_cast<uint4*>(p)[1] = v.b;
}
template <typename T> __device__ __forceinline__ void unpack8(const Vec8<T>& v, float* out) {
    const T* e = reinterpret_cast<const T*>(&v.a);
#pragma unroll
    for (int i = 0; i < 8; ++i) out[i] = to_float(e[i]);
}
template <> __device__ __forceinline__ void unpack8<float>(const Vec8<float>& v, float* out) {
    const float* a = reinterpret_cast<const float*>(&v.a);
    const float* b = reinterpret_cast<const float*>(&v.b);
#pragma unroll
    for (int i = 0; i < 4; ++i) { out[i] = a[i]; out[4 + i] = b[i]; }
}

__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}
__device__ __forceinline__ float warp_max(float x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
    return x;
}

#define NEG_INF (__int_as_float(0xff800000))
#define LOG2E 1.4426950408889634f
