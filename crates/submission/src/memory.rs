//! The memory criteria's verdict, shared by the graders that bound a call's working memory
//! (flash_attention's and flash_attention_bwd's "no N×N" criteria).

use judge_core::Verdict;

/// Resident memory a correct tiled call may add beyond the traced allocations: pages the
/// interpreter and allocator touch for themselves (lazy imports, arenas, page rounding).
pub const RESIDENT_SLACK_BYTES: u64 = 8 << 20;

/// What one call's memory was measured to be, and the bound it must stay under.
#[derive(Debug, Clone)]
pub struct CallMemory<'a> {
    /// tracemalloc's peak inside the worker, when it could be trusted; else why not.
    pub traced_peak: Option<u64>,
    /// Why there is no trustworthy traced peak, for the evidence when `traced_peak` is `None`.
    pub peak_note: Option<String>,
    /// The working memory the judge measured outside the submission's code, beyond the
    /// call's argument and result arrays (`CallOutcome::resident_extra_bytes`).
    pub outside: Option<u64>,
    /// Bytes of the arrays the call returns: they must exist whatever the method.
    pub returned: u64,
    /// What those arrays are, for the evidence ("output", "dQ, dK, dV").
    pub returned_what: &'a str,
    /// The bound, and how the evidence names it ("20% of N×N").
    pub limit: u64,
    /// How the evidence names the bound.
    pub limit_what: &'a str,

    /// Put before the evidence ("N=4096: "), or empty.
    pub prefix: String,
}

/// PASS when the traced peak minus the returned arrays stays under the limit *and* the
/// judge's own figure stays under it (with [`RESIDENT_SLACK_BYTES`] more): the traced figure
/// alone is one the submission's interpreter could touch. Either figure missing is a FAIL that
/// says so (fail closed).
pub fn call_memory_verdict(memory: CallMemory<'_>) -> Verdict {
    let CallMemory {
        traced_peak,
        peak_note,
        outside,
        returned,
        returned_what,
        limit,
        limit_what,
        prefix,
    } = memory;
    let Some(outside) = outside else {
        return Verdict::fail("no trustworthy peak: the judge could not measure the call's memory");
    };
    let outside_limit = limit + RESIDENT_SLACK_BYTES;
    let corroboration = format!(
        "measured by the judge: {outside} B of working memory beyond the call's arrays {} \
         {outside_limit} B",
        if outside < outside_limit { "<" } else { "≥" }
    );
    match traced_peak {
        Some(peak) => {
            let extra = peak.saturating_sub(returned);
            Verdict::check(
                extra < limit && outside < outside_limit,
                format!(
                    "{prefix}traced peak {peak} B − {returned_what} {returned} B = {extra} B {} \
                     {limit_what} ({limit} B); {corroboration}",
                    if extra < limit { "<" } else { "≥" }
                ),
            )
        }
        None => Verdict::fail(format!(
            "no trustworthy peak: {}; {corroboration}",
            peak_note.unwrap_or_default()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(traced: Option<u64>, outside: Option<u64>) -> CallMemory<'static> {
        CallMemory {
            traced_peak: traced,
            peak_note: Some("tracemalloc was reset".into()),
            outside,
            returned: 100,
            returned_what: "output",
            limit: 1000,
            limit_what: "20% of N×N",
            prefix: "N=64: ".into(),
        }
    }

    #[test]
    fn both_figures_must_stay_under_the_bound() {
        let pass = call_memory_verdict(memory(Some(600), Some(500)));
        assert!(pass.is_pass(), "{pass:?}");
        assert!(
            pass.detail()
                .starts_with("N=64: traced peak 600 B − output 100 B = 500 B < 20% of N×N")
        );
        // A forged traced peak does not help when the judge saw the matrix.
        let forged = call_memory_verdict(memory(Some(0), Some(RESIDENT_SLACK_BYTES + 5000)));
        assert_eq!(forged.label(), "FAIL");
        assert!(
            forged.detail().contains("measured by the judge"),
            "{forged:?}"
        );
        assert_eq!(
            call_memory_verdict(memory(Some(1200), Some(0))).label(),
            "FAIL"
        );
        assert_eq!(call_memory_verdict(memory(None, Some(0))).label(), "FAIL");
        assert!(
            call_memory_verdict(memory(Some(0), None))
                .detail()
                .contains("the judge could not measure")
        );
    }
}
