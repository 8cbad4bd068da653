//! The video screening's rules (README, "Video screening"): when the stranger's video is
//! blurred, and what a verdict of the classifier does to it. Pure and clock-free, so they are
//! tested natively; [`browser`] runs the worker and samples the frames.
//!
//! - A video call starts blurred ([`Veil::Checking`]; [`Veil::Waiting`] while the model is
//!   still loading) and turns sharp on the first clean verdict.
//! - A positive verdict blurs it again at once ([`Veil::Flagged`]), until the visitor shows it
//!   anyway or reports (a later clean frame does not unblur it: what was seen once may come
//!   back, and the visitor decides).
//! - "Show anyway" unblurs it for the rest of that call; later positives of the same call do
//!   not blur it again (the visitor chose to see this stranger). The next call is screened anew.
//! - When the model cannot load, the video stays blurred with "Show anyway" ([`Veil::Unavailable`]):
//!   the visitor asked for screening, so an unscreened video is never shown without their
//!   click. The page tries again a few times (a site restarting, a network drop); once the
//!   model loads, the call's video is checked as any other.
//! - Screening off (the visitor's switch): the video is shown at once and no model is loaded.
//! - Screening never ends a call and never reports by itself.

use crate::app::state::Veil;
use crate::protocol::CallId;

#[cfg(feature = "hydrate")]
pub(crate) mod browser;

/// The model's classes, in the order of its output (nsfwjs' `NSFW_CLASSES`).
pub const CLASSES: [&str; 5] = ["Drawing", "Hentai", "Neutral", "Porn", "Sexy"];

/// Whether a frame with these class probabilities is positive at `threshold`: its Porn and
/// Hentai probabilities, added, reach it. Sexy (swimwear, underwear, bare chests) does not
/// count: on a webcam it is too common to blur for, and explicit frames score as Porn.
pub fn positive(probabilities: &[f32; 5], threshold: f32) -> bool {
    probabilities[1] + probabilities[3] >= threshold
}

/// Where the model stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Model {
    /// Not asked for yet, or loading.
    #[default]
    Loading,
    Ready,
    /// It could not be loaded (no worker, no WebAssembly, a missing file): no verdict will come.
    Failed,
}

/// What happens to the screening.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The visitor switched screening on or off.
    Enabled(bool),
    /// The call with the stranger's video is now this one (none: no call, or a text-only one).
    Call(Option<CallId>),
    ModelReady,
    ModelFailed,
    /// The classifier's probabilities for a frame of `call`.
    Verdict {
        call: CallId,
        probabilities: [f32; 5],
    },
    /// The visitor chose to see the video.
    ShowAnyway,
}

/// The screening's state: the page shows [`Screening::veil`].
#[derive(Clone, Debug)]
pub struct Screening {
    threshold: f32,
    enabled: bool,
    model: Model,
    call: Option<CallId>,
    veil: Veil,
}

impl Screening {
    pub fn new(threshold: f32, enabled: bool) -> Self {
        Screening {
            threshold,
            enabled,
            model: Model::Loading,
            call: None,
            veil: Veil::Off,
        }
    }

    pub fn veil(&self) -> Veil {
        self.veil
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn model(&self) -> Model {
        self.model
    }

    /// The call a frame should be checked for now: a video call whose video is not decided by
    /// the visitor or a flag already, with a model to check it.
    pub fn wants_frame(&self) -> Option<CallId> {
        let checking = matches!(self.veil, Veil::Checking | Veil::Clear);
        self.call.filter(|_| checking && self.model == Model::Ready)
    }

    /// Until the first verdict of a call, frames are wanted as soon as they come; after it,
    /// at the operator's interval.
    pub fn first_verdict_pending(&self) -> bool {
        self.veil == Veil::Checking
    }

    pub fn handle(&mut self, event: Event) {
        match event {
            Event::Enabled(on) => {
                self.enabled = on;
                self.veil = self.fresh_veil();
            }
            Event::Call(call) => {
                if call != self.call {
                    self.call = call;
                    self.veil = self.fresh_veil();
                }
            }
            Event::ModelReady => {
                self.model = Model::Ready;
                // Loaded at last (after a failed try, too): the call's video can be checked.
                if matches!(self.veil, Veil::Waiting | Veil::Unavailable) {
                    self.veil = Veil::Checking;
                }
            }
            Event::ModelFailed => {
                self.model = Model::Failed;
                if matches!(self.veil, Veil::Waiting | Veil::Checking | Veil::Clear) {
                    self.veil = Veil::Unavailable;
                }
            }
            Event::Verdict {
                call,
                probabilities,
            } => {
                // A verdict about an earlier call's frame, or after the visitor decided: moot.
                if Some(call) != self.call || !matches!(self.veil, Veil::Checking | Veil::Clear) {
                    return;
                }
                self.veil = if positive(&probabilities, self.threshold) {
                    Veil::Flagged
                } else {
                    Veil::Clear
                };
            }
            Event::ShowAnyway => {
                if self.veil.blurred() {
                    self.veil = Veil::Shown;
                }
            }
        }
    }

    /// The veil a call starts with.
    fn fresh_veil(&self) -> Veil {
        if !self.enabled || self.call.is_none() {
            return Veil::Off;
        }
        match self.model {
            Model::Loading => Veil::Waiting,
            Model::Ready => Veil::Checking,
            Model::Failed => Veil::Unavailable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: CallId = CallId(1);
    const B: CallId = CallId(2);
    const CLEAN: [f32; 5] = [0.02, 0.01, 0.9, 0.02, 0.05];
    const PORN: [f32; 5] = [0.0, 0.05, 0.05, 0.85, 0.05];

    fn ready() -> Screening {
        let mut s = Screening::new(0.5, true);
        s.handle(Event::ModelReady);
        s
    }

    fn verdict(call: CallId, probabilities: [f32; 5]) -> Event {
        Event::Verdict {
            call,
            probabilities,
        }
    }

    #[test]
    fn porn_and_hentai_count_sexy_does_not() {
        assert!(positive(&PORN, 0.5));
        assert!(positive(&[0.0, 0.3, 0.4, 0.3, 0.0], 0.6));
        assert!(!positive(&[0.0, 0.0, 0.1, 0.0, 0.9], 0.5));
        assert!(!positive(&CLEAN, 0.5));
        // 0 makes every frame positive, 1 only certainties.
        assert!(positive(&[0.0, 0.0, 1.0, 0.0, 0.0], 0.0));
        assert!(!positive(&[0.0, 0.0, 0.01, 0.99, 0.0], 1.0));
    }

    // screening.spec "blurred at connect, sharp after a clean verdict"
    #[test]
    fn a_call_is_blurred_until_a_clean_verdict() {
        let mut s = ready();
        assert_eq!(s.veil(), Veil::Off);
        assert_eq!(s.wants_frame(), None);
        s.handle(Event::Call(Some(A)));
        assert_eq!(s.veil(), Veil::Checking);
        assert!(s.veil().blurred() && s.first_verdict_pending());
        assert_eq!(s.wants_frame(), Some(A));
        s.handle(verdict(A, CLEAN));
        assert_eq!(s.veil(), Veil::Clear);
        assert!(!s.veil().blurred() && !s.first_verdict_pending());
        // Still sampled.
        assert_eq!(s.wants_frame(), Some(A));
    }

    // screening.spec "threshold 0: stays blurred, Show anyway, Report"
    #[test]
    fn a_positive_blurs_at_once_until_the_visitor_shows_it() {
        let mut s = ready();
        s.handle(Event::Call(Some(A)));
        s.handle(verdict(A, CLEAN));
        s.handle(verdict(A, PORN));
        assert_eq!(s.veil(), Veil::Flagged);
        assert_eq!(
            s.veil().label().map(|(_, show, report)| (show, report)),
            Some((true, true))
        );
        // A clean frame later does not unblur it; nothing more is sampled.
        s.handle(verdict(A, CLEAN));
        assert_eq!(s.veil(), Veil::Flagged);
        assert_eq!(s.wants_frame(), None);
        s.handle(Event::ShowAnyway);
        assert_eq!(s.veil(), Veil::Shown);
        // Shown for the rest of this call, whatever comes.
        s.handle(verdict(A, PORN));
        assert_eq!(s.veil(), Veil::Shown);
        assert_eq!(s.wants_frame(), None);
        // The next call is screened anew.
        s.handle(Event::Call(Some(B)));
        assert_eq!(s.veil(), Veil::Checking);
        assert_eq!(s.wants_frame(), Some(B));
    }

    #[test]
    fn an_earlier_calls_verdict_changes_nothing() {
        let mut s = ready();
        s.handle(Event::Call(Some(A)));
        s.handle(Event::Call(None));
        s.handle(Event::Call(Some(B)));
        s.handle(verdict(A, CLEAN));
        assert_eq!(s.veil(), Veil::Checking);
        s.handle(verdict(A, PORN));
        assert_eq!(s.veil(), Veil::Checking);
        s.handle(verdict(B, PORN));
        assert_eq!(s.veil(), Veil::Flagged);
    }

    #[test]
    fn while_the_model_loads_the_video_waits_blurred_and_may_be_shown() {
        let mut s = Screening::new(0.5, true);
        s.handle(Event::Call(Some(A)));
        assert_eq!(s.veil(), Veil::Waiting);
        assert_eq!(s.wants_frame(), None);
        assert_eq!(
            s.veil().label().map(|(_, show, report)| (show, report)),
            Some((true, false))
        );
        s.handle(Event::ModelReady);
        assert_eq!(s.veil(), Veil::Checking);
        assert_eq!(s.wants_frame(), Some(A));
    }

    #[test]
    fn a_model_that_fails_keeps_the_video_blurred_until_shown() {
        let mut s = Screening::new(0.5, true);
        s.handle(Event::Call(Some(A)));
        s.handle(Event::ModelFailed);
        assert_eq!(s.veil(), Veil::Unavailable);
        assert!(s.veil().blurred());
        assert_eq!(s.wants_frame(), None);
        s.handle(Event::ShowAnyway);
        assert_eq!(s.veil(), Veil::Shown);
        s.handle(Event::Call(Some(B)));
        assert_eq!(s.veil(), Veil::Unavailable);
        // A model that dies after a clean verdict blurs again: nothing checks the video now.
        let mut s = ready();
        s.handle(Event::Call(Some(A)));
        s.handle(verdict(A, CLEAN));
        s.handle(Event::ModelFailed);
        assert_eq!(s.veil(), Veil::Unavailable);
        // Loaded on a later try: the call's video is checked from then on.
        s.handle(Event::ModelReady);
        assert_eq!(s.veil(), Veil::Checking);
        assert_eq!(s.wants_frame(), Some(A));
        // A video the visitor chose to see stays shown.
        let mut s = Screening::new(0.5, true);
        s.handle(Event::Call(Some(A)));
        s.handle(Event::ModelFailed);
        s.handle(Event::ShowAnyway);
        s.handle(Event::ModelReady);
        assert_eq!(s.veil(), Veil::Shown);
    }

    // screening.spec "with screening off the video shows at once"
    #[test]
    fn switched_off_the_video_shows_at_once_and_nothing_is_sampled() {
        let mut s = Screening::new(0.5, false);
        s.handle(Event::ModelReady);
        s.handle(Event::Call(Some(A)));
        assert_eq!(s.veil(), Veil::Off);
        assert_eq!(s.wants_frame(), None);
        // On during a call: blurred until checked; off again: shown.
        s.handle(Event::Enabled(true));
        assert_eq!(s.veil(), Veil::Checking);
        s.handle(verdict(A, PORN));
        assert_eq!(s.veil(), Veil::Flagged);
        s.handle(Event::Enabled(false));
        assert_eq!(s.veil(), Veil::Off);
        s.handle(Event::ShowAnyway);
        assert_eq!(s.veil(), Veil::Off);
    }
}
