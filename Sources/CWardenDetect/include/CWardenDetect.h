#ifndef CWARDENDETECT_H
#define CWARDENDETECT_H

/// Whether this CPU has AVX2 and FMA (the vectorised kernels below can run).
int warden_has_avx2_fma(void);

/// Replaces x[i] with exp(x[i]) for i < n, four at a time with AVX2 and FMA.
/// Call only when warden_has_avx2_fma() is true. Accurate to about one unit in the last place;
/// inputs below -700 give 0; inputs must not exceed 700.
void warden_exp_avx2(double *x, long n);

#endif
