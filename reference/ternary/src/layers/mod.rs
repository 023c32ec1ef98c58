//! Forward and backward pass of every layer type of the model, as free functions on row-major
//! activations `[rows, features]` (rows = batch × sequence positions).
//!
//! Each backward function takes the upstream gradient `∂L/∂y` and returns `∂L/∂x`; parameter
//! gradients are *added* into a caller-owned buffer so the model can accumulate them in place.
//! Shapes are the model's business: these functions assume the shapes it built.

pub(crate) mod attention;
pub(crate) mod cross_entropy;
pub(crate) mod embedding;
pub(crate) mod linear;
pub(crate) mod rms_norm;
pub(crate) mod rope;
pub(crate) mod swiglu;

#[cfg(test)]
mod gradient_check;
