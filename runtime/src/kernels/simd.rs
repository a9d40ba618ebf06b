//! Four f32 lanes: SSE on x86 (the board is Silvermont: SSE4.2, no AVX, no FMA), plain
//! arrays elsewhere. LLVM's auto-vectoriser turned the multi-row dot products into
//! shuffles, so the hot loops say what they mean with this type instead.

#[cfg(all(target_arch = "x86", target_feature = "sse"))]
use core::arch::x86::*;
#[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
use core::arch::x86_64::*;

#[cfg(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "sse"
))]
mod imp {
    use super::*;

    /// Four lanes in one SSE register.
    #[derive(Clone, Copy)]
    pub struct F4(__m128);

    impl F4 {
        #[inline(always)]
        pub fn zero() -> Self {
            // SAFETY (here and below): SSE is enabled for the whole build (the cfg above).
            F4(unsafe { _mm_setzero_ps() })
        }
        #[inline(always)]
        pub fn splat(v: f32) -> Self {
            F4(unsafe { _mm_set1_ps(v) })
        }
        #[inline(always)]
        pub fn load(a: &[f32; 4]) -> Self {
            // SAFETY: `a` is four readable floats; the load has no alignment requirement.
            F4(unsafe { _mm_loadu_ps(a.as_ptr()) })
        }
        #[inline(always)]
        pub fn store(self, a: &mut [f32; 4]) {
            // SAFETY: `a` is four writable floats; the store has no alignment requirement.
            unsafe { _mm_storeu_ps(a.as_mut_ptr(), self.0) }
        }
        /// `self + a * b` (two instructions: Silvermont has no FMA).
        #[inline(always)]
        pub fn mul_add(self, a: F4, b: F4) -> Self {
            F4(unsafe { _mm_add_ps(self.0, _mm_mul_ps(a.0, b.0)) })
        }
        // A plain method like the rest of this type (no operator traits on a type that
        // exists only for the kernels' inner loops).
        #[allow(clippy::should_implement_trait)]
        #[inline(always)]
        pub fn add(self, b: F4) -> Self {
            F4(unsafe { _mm_add_ps(self.0, b.0) })
        }
    }
}

#[cfg(not(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "sse"
)))]
mod imp {
    /// Four lanes as a plain array.
    #[derive(Clone, Copy)]
    pub struct F4([f32; 4]);

    impl F4 {
        #[inline(always)]
        pub fn zero() -> Self {
            F4([0.0; 4])
        }
        #[inline(always)]
        pub fn splat(v: f32) -> Self {
            F4([v; 4])
        }
        #[inline(always)]
        pub fn load(a: &[f32; 4]) -> Self {
            F4(*a)
        }
        #[inline(always)]
        pub fn store(self, a: &mut [f32; 4]) {
            *a = self.0;
        }
        #[inline(always)]
        pub fn mul_add(self, a: F4, b: F4) -> Self {
            F4(core::array::from_fn(|i| self.0[i] + a.0[i] * b.0[i]))
        }
        #[inline(always)]
        pub fn add(self, b: F4) -> Self {
            F4(core::array::from_fn(|i| self.0[i] + b.0[i]))
        }
    }
}

pub use imp::F4;

impl F4 {
    /// Sum of the lanes, in a fixed order.
    #[inline(always)]
    pub fn sum(self) -> f32 {
        let mut a = [0f32; 4];
        self.store(&mut a);
        (a[0] + a[2]) + (a[1] + a[3])
    }
}
