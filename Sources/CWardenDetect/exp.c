// A vectorised exp for WardenDetect's kernel cache. Swift on x86-64 is compiled for the baseline
// instruction set (SSE2); this file compiles one function for AVX2 + FMA through a target
// attribute and lets the caller choose at run time, so no build flag is needed.
#include "CWardenDetect.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

int warden_has_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

// exp(x) = 2^n * e^r, n = round(x / ln 2), |r| <= ln(2)/2, e^r by its degree-13 Taylor polynomial
// (truncation below 1e-17), evaluated by Horner with fused multiply-adds.
__attribute__((target("avx2,fma"))) void warden_exp_avx2(double *x, long n) {
    const __m256d low = _mm256_set1_pd(-700.0);
    const __m256d log2e = _mm256_set1_pd(1.4426950408889634);
    const __m256d shifter = _mm256_set1_pd(6755399441055744.0);  // 1.5 * 2^52
    const __m256d ln2hi = _mm256_set1_pd(0.6931471803691238);
    const __m256d ln2lo = _mm256_set1_pd(1.9082149292705877e-10);
    const double c[14] = {
        1.6059043836821613e-10, 2.08767569878681e-09, 2.505210838544172e-08, 2.755731922398589e-07,
        2.7557319223985893e-06, 2.48015873015873e-05, 0.0001984126984126984, 0.001388888888888889,
        0.008333333333333333, 0.041666666666666664, 0.16666666666666666, 0.5, 1.0, 1.0,
    };
    long i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d v = _mm256_loadu_pd(x + i);
        __m256d tiny = _mm256_cmp_pd(v, low, _CMP_LT_OQ);
        __m256d xv = _mm256_max_pd(v, low);
        __m256d shifted = _mm256_fmadd_pd(xv, log2e, shifter);
        __m256d k = _mm256_sub_pd(shifted, shifter);
        __m256d r = _mm256_fnmadd_pd(k, ln2hi, xv);
        r = _mm256_fnmadd_pd(k, ln2lo, r);
        __m256d p = _mm256_set1_pd(c[0]);
        for (int j = 1; j < 14; j++) p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(c[j]));
        __m256i bits = _mm256_sub_epi64(_mm256_castpd_si256(shifted), _mm256_castpd_si256(shifter));
        __m256i scale = _mm256_slli_epi64(_mm256_add_epi64(bits, _mm256_set1_epi64x(1023)), 52);
        __m256d result = _mm256_mul_pd(p, _mm256_castsi256_pd(scale));
        _mm256_storeu_pd(x + i, _mm256_andnot_pd(tiny, result));
    }
    if (i < n) {
        double tail[4] = {0, 0, 0, 0};
        for (long j = i; j < n; j++) tail[j - i] = x[j];
        warden_exp_avx2(tail, 4);
        for (long j = i; j < n; j++) x[j] = tail[j - i];
    }
}

#else

int warden_has_avx2_fma(void) { return 0; }
void warden_exp_avx2(double *x, long n) { (void)x; (void)n; }

#endif
