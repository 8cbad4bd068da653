//! The visitor's camera and microphone.

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{DomException, MediaStream, MediaStreamConstraints};

/// Why the camera could not be opened, in words for the status line.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MediaError {
    #[error("Camera or microphone blocked. Allow access in your browser, then press Call.")]
    Blocked,
    #[error("No camera or microphone found. Plug one in, then press Call.")]
    Missing,
    #[error("Your camera is busy in another app. Close it, then press Call.")]
    Busy,
    #[error("This browser cannot open a camera here (video calls need https or localhost).")]
    Unsupported,
    #[error("The camera could not be opened: {0}")]
    Other(String),
}

/// Asks for camera and microphone; the browser shows its permission prompt if needed.
///
/// The browser is asked at once, when this is called, not when the returned future is first
/// polled: a task spawned on a click runs only after the rest of the click's work, and the
/// camera, which takes the longest of everything a call starts, should not wait for it.
pub(crate) fn open_camera() -> impl std::future::Future<Output = Result<MediaStream, MediaError>> {
    let request = ask_for_camera();
    async move {
        let stream = JsFuture::from(request?).await.map_err(classify)?;
        stream
            .dyn_into::<MediaStream>()
            .map_err(|_| MediaError::Unsupported)
    }
}

fn ask_for_camera() -> Result<js_sys::Promise, MediaError> {
    let devices = leptos::prelude::window()
        .navigator()
        .media_devices()
        .map_err(|_| MediaError::Unsupported)?;
    let constraints = MediaStreamConstraints::new();
    constraints.set_video(&JsValue::TRUE);
    constraints.set_audio(&JsValue::TRUE);
    devices
        .get_user_media_with_constraints(&constraints)
        .map_err(classify)
}

fn classify(err: JsValue) -> MediaError {
    match err.dyn_ref::<DomException>().map(|e| e.name()) {
        Some(name) if name == "NotAllowedError" || name == "SecurityError" => MediaError::Blocked,
        Some(name) if name == "NotFoundError" || name == "OverconstrainedError" => {
            MediaError::Missing
        }
        Some(name) if name == "NotReadableError" || name == "AbortError" => MediaError::Busy,
        Some(name) => MediaError::Other(name),
        None => MediaError::Other(format!("{err:?}")),
    }
}

/// Whether the browser already lets this site use both the camera and the microphone, so
/// opening them asks the visitor nothing. `false` where the browser cannot tell (Firefox
/// knows no "camera" permission to query) or the page cannot ask.
pub(crate) async fn camera_permitted() -> bool {
    let Ok(permissions) = js_sys::Reflect::get(
        &leptos::prelude::window().navigator(),
        &"permissions".into(),
    ) else {
        return false;
    };
    let Ok(query) = js_sys::Reflect::get(&permissions, &"query".into())
        .and_then(|f| f.dyn_into::<js_sys::Function>())
    else {
        return false;
    };
    for name in ["camera", "microphone"] {
        let descriptor = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&descriptor, &"name".into(), &name.into());
        let Ok(promise) = query
            .call1(&permissions, &descriptor)
            .and_then(|p| p.dyn_into::<js_sys::Promise>())
        else {
            return false;
        };
        let granted = JsFuture::from(promise)
            .await
            .ok()
            .and_then(|status| js_sys::Reflect::get(&status, &"state".into()).ok())
            .and_then(|state| state.as_string())
            .is_some_and(|state| state == "granted");
        if !granted {
            return false;
        }
    }
    true
}
