//! The video screening's files (README, "Video screening"): where the page finds them, and
//! how they are served.
//!
//! `scripts/screening-assets.mjs` writes TensorFlow.js, nsfwjs' model and the worker into
//! `public/screening/` with content-hashed names and a `manifest.json` naming them; the build
//! copies them into the site. The server reads the manifest once at start and hands the page
//! the names and the operator's `--screening…` settings in a `<meta>` of the page's head
//! ([`page_settings`]). The page loads nothing from anywhere else.

use crate::server::config::{Config, Screening};
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::path::Path;

/// Where the files are served from, under the site root.
pub const PREFIX: &str = "/screening/";

/// The files the manifest names: the worker's URL, and the rest as the JSON the worker reads
/// (every name made a URL under [`PREFIX`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScreeningFiles {
    pub worker: String,
    pub files_json: String,
}

/// Reads `<site_root>/screening/manifest.json`. `None` (with an error in the log) when it is
/// missing or not what the build writes: the page then says screening cannot run, and keeps
/// the stranger's video blurred until the visitor chooses to see it.
pub fn load(site_root: &Path) -> Option<ScreeningFiles> {
    let path = site_root.join("screening").join("manifest.json");
    let parsed = std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|text| parse_manifest(&text));
    match parsed {
        Ok(files) => Some(files),
        Err(e) => {
            tracing::error!(
                path = %path.display(),
                "video screening's files are missing ({e}): pages will keep the stranger's \
                 video blurred until the visitor shows it; build with `make build`"
            );
            None
        }
    }
}

fn parse_manifest(text: &str) -> Result<ScreeningFiles, String> {
    use serde_json::Value;
    let manifest: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let url = |value: &Value| -> Result<Value, String> {
        let name = value.as_str().ok_or("a file name is not a string")?;
        // The build writes plain file names; anything else would point elsewhere.
        let plain = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            && !name.starts_with('.');
        if !plain {
            return Err(format!("{name:?} is not a plain file name"));
        }
        Ok(Value::String(format!("{PREFIX}{name}")))
    };
    let field = |key: &str| manifest.get(key).ok_or(format!("no {key:?}")).and_then(url);
    let mut wasm = serde_json::Map::new();
    for (name, file) in manifest
        .get("wasm")
        .and_then(Value::as_object)
        .ok_or("no \"wasm\"")?
    {
        wasm.insert(name.clone(), url(file)?);
    }
    let files = serde_json::json!({
        "tf": field("tf")?,
        "wasmBackend": field("wasmBackend")?,
        "wasm": wasm,
        "model": field("model")?,
    });
    let worker = field("worker")?;
    Ok(ScreeningFiles {
        worker: worker.as_str().unwrap_or_default().to_owned(),
        files_json: files.to_string(),
    })
}

/// What the page needs to know, as the `data-` attributes of its `<meta name="duet-screening">`
/// (see `app::screening_settings`).
pub struct PageSettings {
    /// `on` or `off`: the visitor's default.
    pub default: &'static str,
    /// The `--screening-threshold`.
    pub threshold: String,
    /// The `--screening-interval`, in milliseconds.
    pub interval_ms: String,
    /// The worker's URL; empty when the files are missing.
    pub worker: String,
    /// The other files, as JSON for the worker; empty when they are missing.
    pub files: String,
}

pub fn page_settings(config: &Config, files: Option<&ScreeningFiles>) -> PageSettings {
    PageSettings {
        default: match config.screening {
            Screening::On => "on",
            Screening::Off => "off",
        },
        threshold: config.screening_threshold.to_string(),
        interval_ms: config.screening_interval.as_millis().to_string(),
        worker: files.map(|f| f.worker.clone()).unwrap_or_default(),
        files: files.map(|f| f.files_json.clone()).unwrap_or_default(),
    }
}

/// The worker's own Content-Security-Policy. A worker is governed by the policy delivered
/// with its script, not the page's; the strict default for non-pages (`default-src 'none'`)
/// would refuse what it must do: `importScripts` of TensorFlow.js from this site
/// (`script-src 'self'`), fetching the model and the WebAssembly binaries from this site
/// (`connect-src 'self'`), and compiling WebAssembly (`'wasm-unsafe-eval'`, which allows no
/// JavaScript `eval`). Nothing beyond this site, and no inline script.
const WORKER_CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
                          connect-src 'self'; base-uri 'none'";

/// Marks the screening's files, whose names change with their content, as cacheable for a
/// year and never revalidated; gives the worker its policy ([`WORKER_CSP`]). The manifest
/// itself is not for browsers and keeps the default caching.
pub async fn headers(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    let Some(name) = path.strip_prefix(PREFIX) else {
        return response;
    };
    if !response.status().is_success() || name == "manifest.json" {
        return response;
    }
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    if name.starts_with("worker.") && name.ends_with(".js") {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(WORKER_CSP),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_becomes_urls_on_this_site() {
        let files = parse_manifest(
            r#"{"tf":"tf.0123456789abcdef.js","wasmBackend":"b.1.js",
                "wasm":{"tfjs-backend-wasm.wasm":"w.2.wasm"},"model":"model.3.json",
                "worker":"worker.4.js"}"#,
        )
        .unwrap();
        assert_eq!(files.worker, "/screening/worker.4.js");
        let json: serde_json::Value = serde_json::from_str(&files.files_json).unwrap();
        assert_eq!(json["tf"], "/screening/tf.0123456789abcdef.js");
        assert_eq!(
            json["wasm"]["tfjs-backend-wasm.wasm"],
            "/screening/w.2.wasm"
        );
        assert_eq!(json["model"], "/screening/model.3.json");
    }

    #[test]
    fn a_manifest_naming_anything_but_plain_files_is_refused() {
        for bad in [
            r#"{"tf":"https://cdn.example/tf.js","wasmBackend":"b.js","wasm":{},"model":"m.json","worker":"w.js"}"#,
            r#"{"tf":"../tf.js","wasmBackend":"b.js","wasm":{},"model":"m.json","worker":"w.js"}"#,
            r#"{"tf":"tf.js","wasmBackend":"b.js","wasm":{"x":"//evil/x.wasm"},"model":"m.json","worker":"w.js"}"#,
            r#"{"tf":"tf.js","wasmBackend":"b.js","model":"m.json","worker":"w.js"}"#,
            "not json",
        ] {
            assert!(parse_manifest(bad).is_err(), "{bad}");
        }
    }
}
