//! Tiled (flash) attention: forward and backward with online softmax.
