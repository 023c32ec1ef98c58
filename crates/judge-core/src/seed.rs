//! Seeds for hidden cases: one grading seed, one independent stream per criterion.

/// The seed of `criterion`'s hidden cases: the grading seed XOR the 64-bit FNV-1a hash of the
/// criterion id. Criteria do not share draws, and adding one does not change the others' cases.
/// The arithmetic is fixed: changing it changes every hidden case a recorded seed reproduces.
pub fn for_criterion(seed: u64, criterion: &str) -> u64 {
    seed ^ fnv1a(criterion.as_bytes())
}

/// 64-bit FNV-1a: `h = (h ⊕ byte) · 0x100000001b3`, from the offset basis `0xcbf29ce484222325`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Published FNV-1a 64 test vectors (Fowler, Noll, Vo: the reference test suite).
    #[test]
    fn fnv1a_matches_the_published_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn the_grading_seed_is_xored_with_the_criterion_hash() {
        assert_eq!(for_criterion(0, "a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(
            for_criterion(0xffff_ffff_ffff_ffff, "a"),
            !0xaf63_dc4c_8601_ec8cu64
        );
        assert_eq!(for_criterion(7, ""), 7 ^ 0xcbf2_9ce4_8422_2325);
    }

    #[test]
    fn criteria_and_seeds_get_different_streams() {
        let seed = 20261127;
        assert_ne!(
            for_criterion(seed, "forward"),
            for_criterion(seed, "grad_x")
        );
        assert_ne!(
            for_criterion(seed, "forward"),
            for_criterion(seed + 1, "forward")
        );
    }
}
