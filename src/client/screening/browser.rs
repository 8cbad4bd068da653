//! The browser's half of the video screening: the worker that runs the classifier
//! (`worker.js` beside this file, served by the site) and the sampling of the stranger's video.
//! The rules are the parent module's; this only feeds them and shows their [`Veil`].
//!
//! The worker is created lazily: when the browser is idle after the lobby hydrated, and only
//! while the visitor has screening on. Frames are taken from the `<video>` as 224×224
//! `ImageBitmap`s (the model's input size, so the copy is small) and transferred to the
//! worker, one at a time: the next waits for the last verdict, so a slow device checks fewer
//! frames rather than queueing them. Until a call's first verdict a frame is taken as soon as
//! the video has one; after it, every `--screening-interval`.
//!
//! A browser without workers (or with the worker refused) gets [`Event::ModelFailed`]: the
//! video then stays blurred until the visitor shows it. The classifier is never run on the
//! page's own thread, where it would stall the video and the chat for each frame.

use super::{Event, Screening};
use crate::app::state::{PageState, Veil};
use crate::protocol::CallId;
use leptos::html::Video;
use leptos::prelude::*;
use std::time::Duration;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{ImageBitmap, ImageBitmapOptions, MessageEvent, ResizeQuality, Worker};

/// The model's input size: frames are taken at it.
const SIZE: u32 = 224;
/// How often to look for the first frame of a call while the video has none yet.
const FIRST_FRAME_POLL: Duration = Duration::from_millis(30);
/// How many times the worker is started before the page gives up on screening: a load that
/// failed because the site was restarting, or the network dropped, works a moment later.
const LOAD_ATTEMPTS: u32 = 6;

/// The operator's settings and the worker's files, from the page's
/// `<meta name="duet-screening">` (written by the server, see `server::screening`).
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// The visitor's default (`--screening`).
    pub default_on: bool,
    threshold: f32,
    interval: Duration,
    /// The worker's URL; empty when the site has no screening files.
    worker: String,
    /// The files the worker loads, as JSON.
    files: String,
}

impl Settings {
    pub(crate) fn read() -> Settings {
        let meta = document()
            .query_selector("meta[name=duet-screening]")
            .ok()
            .flatten();
        let attr = |name| {
            meta.as_ref()
                .and_then(|m| m.get_attribute(name))
                .unwrap_or_default()
        };
        Settings {
            default_on: attr("data-default") != "off",
            // Parsed by the browser: Rust's float parsing would grow the wasm by kilobytes.
            threshold: Some(js_sys::Number::parse_float(&attr("data-threshold")))
                .filter(|t| t.is_finite())
                .unwrap_or(0.5) as f32,
            interval: Duration::from_millis(attr("data-interval-ms").parse().unwrap_or(1000)),
            worker: attr("data-worker"),
            files: attr("data-files"),
        }
    }
}

/// The screening of one lobby; cheap to copy into callbacks.
#[derive(Clone, Copy)]
pub(crate) struct Screener {
    rules: StoredValue<Screening>,
    settings: StoredValue<Settings>,
    veil: RwSignal<Veil>,
    video: NodeRef<Video>,
    worker: StoredValue<Option<Worker>, LocalStorage>,
    /// The call whose frame is with the worker now, if one is.
    in_flight: StoredValue<Option<CallId>>,
    /// The sampling loop is running.
    sampling: StoredValue<bool>,
    /// Starts of the worker that failed since it last loaded.
    failures: StoredValue<u32>,
}

impl Screener {
    pub(crate) fn new(state: PageState, settings: Settings) -> Self {
        Screener {
            rules: StoredValue::new(Screening::new(settings.threshold, settings.default_on)),
            settings: StoredValue::new(settings),
            veil: state.call.veil,
            video: state.call.remote_video,
            worker: StoredValue::new_local(None),
            in_flight: StoredValue::new(None),
            sampling: StoredValue::new(false),
            failures: StoredValue::new(0),
        }
    }

    /// Feeds the rules, shows their veil, and samples while they want frames.
    pub(crate) fn handle(self, event: Event) {
        let _ = self.rules.try_update_value(|rules| rules.handle(event));
        let veil = self.rules.with_value(Screening::veil);
        if self.veil.get_untracked() != veil {
            self.veil.set(veil);
        }
        self.record("data-screening-state", veil.as_str());
        if self.rules.with_value(|r| r.wants_frame().is_some()) && !self.sampling.get_value() {
            self.sampling.set_value(true);
            self.sample();
        }
    }

    /// Loads the worker and its model once the browser is idle, unless screening is off by
    /// then.
    pub(crate) fn load_when_idle(self) {
        let load = Closure::once_into_js(move || self.load());
        let window = window();
        let idle = js_sys::Reflect::get(&window, &"requestIdleCallback".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        let scheduled = match idle {
            // A second at most: the first call may come soon after the page loaded.
            Some(idle) => {
                let options = js_sys::Object::new();
                let _ = js_sys::Reflect::set(&options, &"timeout".into(), &1000.into());
                idle.call2(&window, &load, &options).is_ok()
            }
            None => false,
        };
        if !scheduled {
            let _ = window
                .set_timeout_with_callback_and_timeout_and_arguments_0(load.unchecked_ref(), 0);
        }
    }

    /// Creates the worker and asks it to load the model, once, if screening is on.
    pub(crate) fn load(self) {
        if self.worker.with_value(Option::is_some) || !self.rules.with_value(Screening::enabled) {
            return;
        }
        let settings = self.settings.get_value();
        if settings.worker.is_empty() {
            leptos::logging::error!("video screening: this site has no screening files");
            return self.handle(Event::ModelFailed);
        }
        let worker = match Worker::new(&settings.worker) {
            Ok(worker) => worker,
            Err(e) => {
                leptos::logging::error!("video screening: no worker: {e:?}");
                return self.handle(Event::ModelFailed);
            }
        };
        let on_message =
            Closure::<dyn Fn(MessageEvent)>::new(move |ev: MessageEvent| self.heard(ev.data()));
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();
        let on_error = Closure::<dyn Fn(web_sys::Event)>::new(move |_| {
            self.failed("the worker failed to start");
        });
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();
        let message = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&message, &"type".into(), &"load".into());
        let files = js_sys::JSON::parse(&settings.files).unwrap_or(JsValue::NULL);
        let _ = js_sys::Reflect::set(&message, &"files".into(), &files);
        if worker.post_message(&message).is_err() {
            return self.handle(Event::ModelFailed);
        }
        crate::client::timeline::mark(|| Some("screening model loading".into()));
        self.worker.set_value(Some(worker));
    }

    /// A message from the worker.
    fn heard(self, data: JsValue) {
        let field = |name: &str| js_sys::Reflect::get(&data, &name.into()).unwrap_or_default();
        let ms = field("ms").as_string().unwrap_or_default();
        match field("type").as_string().as_deref() {
            Some("ready") => {
                crate::client::timeline::mark(|| Some(format!("screening model ready ({ms} ms)")));
                self.failures.set_value(0);
                let backend = field("backend").as_string().unwrap_or_default();
                self.record("data-screening-backend", &backend);
                self.record("data-screening-load-ms", &ms);
                self.handle(Event::ModelReady);
            }
            Some("verdict") => {
                let Some(call) = self.in_flight.try_update_value(Option::take).flatten() else {
                    return;
                };
                let values: Vec<f32> = js_sys::Array::from(&field("probabilities"))
                    .iter()
                    .map(|v| v.as_f64().unwrap_or_default() as f32)
                    .collect();
                let Ok(probabilities) = <[f32; 5]>::try_from(values) else {
                    return;
                };
                self.record("data-screening-frame-ms", &ms);
                self.handle(Event::Verdict {
                    call,
                    probabilities,
                });
            }
            Some("failed") => {
                let error = field("error").as_string().unwrap_or_default();
                self.failed(&error);
            }
            _ => {}
        }
    }

    /// The worker could not load (or run) the model: the video stays blurred until the visitor
    /// shows it, and a new worker tries again after a pause that doubles each time (2 s, 4 s,
    /// … 32 s); after [`LOAD_ATTEMPTS`] the page gives up until it is loaded again.
    fn failed(self, why: &str) {
        if let Some(worker) = self.worker.try_update_value(Option::take).flatten() {
            worker.terminate();
        }
        self.in_flight.set_value(None);
        self.handle(Event::ModelFailed);
        let failures = self.failures.try_update_value(|n| {
            *n += 1;
            *n
        });
        let failures = failures.unwrap_or(LOAD_ATTEMPTS);
        if failures >= LOAD_ATTEMPTS {
            leptos::logging::error!("video screening could not run: {why}");
            return;
        }
        let pause = 1u32 << failures;
        leptos::logging::warn!("video screening could not run: {why}; trying again in {pause} s");
        set_timeout(move || self.load(), Duration::from_secs(pause.into()));
    }

    /// Takes a frame for the worker if one is wanted and none is with it, then comes back when
    /// the next is due; stops while no frame is wanted (`handle` starts it again).
    fn sample(self) {
        let Some(call) = self.rules.with_value(Screening::wants_frame) else {
            self.sampling.set_value(false);
            return;
        };
        let first = self.rules.with_value(Screening::first_verdict_pending);
        let interval = self.settings.with_value(|s| s.interval);
        let again = move |delay| set_timeout(move || self.sample(), delay);
        if self.in_flight.with_value(Option::is_some) {
            return again(if first { FIRST_FRAME_POLL } else { interval });
        }
        let Some(video) = self.video.get_untracked() else {
            return again(FIRST_FRAME_POLL);
        };
        // HAVE_CURRENT_DATA: a frame to take.
        if video.ready_state() < 2 || video.video_width() == 0 {
            return again(FIRST_FRAME_POLL);
        }
        let options = ImageBitmapOptions::new();
        options.set_resize_width(SIZE);
        options.set_resize_height(SIZE);
        options.set_resize_quality(ResizeQuality::Low);
        let Ok(promise) = window()
            .create_image_bitmap_with_html_video_element_and_image_bitmap_options(&video, &options)
        else {
            return again(interval);
        };
        self.in_flight.set_value(Some(call));
        leptos::task::spawn_local(async move {
            let sent = match wasm_bindgen_futures::JsFuture::from(promise).await {
                Ok(bitmap) => self.post_frame(bitmap.unchecked_into()),
                Err(_) => false,
            };
            if !sent {
                self.in_flight.set_value(None);
            }
        });
        again(if first { FIRST_FRAME_POLL } else { interval });
    }

    /// Transfers `bitmap` to the worker (the page keeps no copy).
    fn post_frame(self, bitmap: ImageBitmap) -> bool {
        self.worker.with_value(|worker| {
            let Some(worker) = worker else {
                return false;
            };
            let message = js_sys::Object::new();
            let _ = js_sys::Reflect::set(&message, &"type".into(), &"frame".into());
            let _ = js_sys::Reflect::set(&message, &"bitmap".into(), &bitmap);
            let transfer = js_sys::Array::of1(&bitmap);
            worker
                .post_message_with_transfer(&message, &transfer)
                .is_ok()
        })
    }

    /// Marks the stranger's video with what the screening did, for the tests and the
    /// benchmark (nothing about the frame itself).
    fn record(self, name: &str, value: &str) {
        if let Some(video) = self.video.get_untracked() {
            let _ = video.set_attribute(name, value);
        }
    }
}
