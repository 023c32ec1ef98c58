//! CUDA kernel and its plumbing (filled in below).
