//! The skeleton every NumPy grader shares (ARCHITECTURE §2): a grader says what is its own —
//! criteria, contract, and how to decide them for the reference and for a submission — and
//! [`python_challenge!`](crate::python_challenge) makes it a [`Challenge`](judge_core::Challenge)
//! with the shared criteria in their place.

use std::path::Path;

use judge_core::{ChallengeId, Criterion, CriterionKind, GradeContext, Graded, Scorecard};

use crate::contract::PythonContract;
use crate::criteria::{no_frameworks_criterion, self_test_criterion};
use crate::grade::grade_python;
use crate::reference::grade_reference;
use crate::session::Session;

/// What a grader of a Python challenge supplies; the rest is the skeleton's.
pub trait PythonGrader: Send + Sync {
    /// The challenge this grader grades.
    fn id(&self) -> ChallengeId;

    /// Changes whenever a criterion or a hidden case changes, so old grades are not reused.
    fn version(&self) -> &'static str;

    /// The challenge's own criteria in report order, its auto criteria before its manual
    /// items: the shared `no_frameworks` and `self_test` go between the two.
    fn own_criteria(&self) -> Vec<Criterion>;

    /// The names the submission must define, its fixtures and its per-call limit.
    fn contract(&self) -> PythonContract;

    /// Decides the challenge's auto criteria for the Rust reference.
    fn decide_reference(&self, ctx: &GradeContext, card: &mut Scorecard);

    /// Decides the challenge's auto criteria for a submission whose worker is started and
    /// whose entry module is loaded.
    fn decide_submission(&self, session: &mut Session, ctx: &GradeContext, card: &mut Scorecard);
}

/// Every criterion of `grader` in report order: its auto criteria, the shared two, its manual
/// items.
pub fn criteria<G: PythonGrader + ?Sized>(grader: &G) -> Vec<Criterion> {
    let mut criteria = grader.own_criteria();
    let manual_from = criteria
        .iter()
        .position(|c| c.kind == CriterionKind::Manual)
        .unwrap_or(criteria.len());
    criteria.splice(
        manual_from..manual_from,
        [no_frameworks_criterion(), self_test_criterion()],
    );
    criteria
}

/// [`Challenge::grade_reference`](judge_core::Challenge::grade_reference) for a Python grader.
pub fn grade_reference_of<G: PythonGrader + ?Sized>(grader: &G, ctx: &GradeContext) -> Graded {
    grade_reference(&criteria(grader), |card| grader.decide_reference(ctx, card))
}

/// [`Challenge::grade_submission`](judge_core::Challenge::grade_submission) for a Python grader.
pub fn grade_submission_of<G: PythonGrader + ?Sized>(
    grader: &G,
    dir: &Path,
    ctx: &GradeContext,
) -> Graded {
    grade_python(
        &grader.contract(),
        &criteria(grader),
        dir,
        ctx,
        |session, card| grader.decide_submission(session, ctx, card),
    )
}

/// Implements [`Challenge`](judge_core::Challenge) for a [`PythonGrader`]. A macro, not a
/// blanket impl: the orphan rule forbids `impl<T: PythonGrader> Challenge for T` outside
/// judge-core, and judge-core cannot know the Python session.
#[macro_export]
macro_rules! python_challenge {
    ($grader:ty) => {
        impl $crate::python_grader::judge_core::Challenge for $grader {
            fn id(&self) -> $crate::python_grader::judge_core::ChallengeId {
                <Self as $crate::PythonGrader>::id(self)
            }

            fn version(&self) -> &'static str {
                <Self as $crate::PythonGrader>::version(self)
            }

            fn criteria(&self) -> Vec<$crate::python_grader::judge_core::Criterion> {
                $crate::python_grader::criteria(self)
            }

            fn grade_reference(
                &self,
                ctx: &$crate::python_grader::judge_core::GradeContext,
            ) -> $crate::python_grader::judge_core::Graded {
                $crate::python_grader::grade_reference_of(self, ctx)
            }

            fn grade_submission(
                &self,
                dir: &::std::path::Path,
                ctx: &$crate::python_grader::judge_core::GradeContext,
            ) -> $crate::python_grader::judge_core::Graded {
                $crate::python_grader::grade_submission_of(self, dir, ctx)
            }
        }
    };
}

/// For [`python_challenge!`](crate::python_challenge): the crate that owns `Challenge`.
#[doc(hidden)]
pub use judge_core;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::criteria::{NO_FRAMEWORKS, SELF_TEST};

    /// A grader made of its own criteria and nothing else.
    struct Toy(Vec<Criterion>);

    impl PythonGrader for Toy {
        fn id(&self) -> ChallengeId {
            ChallengeId::Kv
        }

        fn version(&self) -> &'static str {
            "0"
        }

        fn own_criteria(&self) -> Vec<Criterion> {
            self.0.clone()
        }

        fn contract(&self) -> PythonContract {
            PythonContract::new(ChallengeId::Kv, &["f"], std::time::Duration::from_secs(1))
        }

        fn decide_reference(&self, _: &GradeContext, _: &mut Scorecard) {}

        fn decide_submission(&self, _: &mut Session, _: &GradeContext, _: &mut Scorecard) {}
    }

    crate::python_challenge!(Toy);

    fn ids_of(grader: &Toy) -> Vec<String> {
        judge_core::Challenge::criteria(grader)
            .into_iter()
            .map(|c| c.id)
            .collect()
    }

    #[test]
    fn the_shared_criteria_sit_between_the_auto_criteria_and_the_manual_items() {
        let grader = Toy(vec![
            Criterion::auto("first", "an auto criterion"),
            Criterion::auto("second", "another"),
            Criterion::manual("explains", "a manual item"),
        ]);
        assert_eq!(
            ids_of(&grader),
            ["first", "second", NO_FRAMEWORKS, SELF_TEST, "explains"]
        );
    }

    #[test]
    fn without_manual_items_the_shared_criteria_come_last() {
        let grader = Toy(vec![Criterion::auto("only", "the one auto criterion")]);
        assert_eq!(ids_of(&grader), ["only", NO_FRAMEWORKS, SELF_TEST]);
    }

    #[test]
    fn the_reference_gets_the_shared_verdicts_the_reference_always_got() {
        let grader = Toy(vec![Criterion::auto("own", "decided by the grader")]);
        let graded = judge_core::Challenge::grade_reference(&grader, &GradeContext::with_seed(1));
        let verdict = |id: &str| {
            graded
                .results
                .iter()
                .find(|r| r.criterion.id == id)
                .map(|r| r.verdict.clone())
                .unwrap()
        };
        assert!(verdict(NO_FRAMEWORKS).is_pass());
        assert!(matches!(
            verdict(SELF_TEST),
            judge_core::Verdict::Skipped { .. }
        ));
    }
}
