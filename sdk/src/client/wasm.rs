//! The WASM modules API (`/wasm`): register by path or by upload, list with metrics, remove.

use std::path::Path;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::HeaderValue;
use rand::Rng;
use rand::distr::Alphanumeric;
use reqwest::Method;

use super::{ApiRequest, Client, RouteKind, read_bytes};
use crate::error::{ApiError, Error, Result};
use crate::types::{
    MiddlewareAttachPoint, WasmModuleAddRequest, WasmModuleAddResponse, WasmModuleAttachPoint,
    WasmModuleDescriptor, WasmModuleList,
};

/// Handle for the WASM modules API; get one with [`Client::wasm`].
#[derive(Debug, Clone, Copy)]
pub struct Wasm<'a> {
    client: &'a Client,
}

impl<'a> Wasm<'a> {
    pub(super) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// Register modules whose files are on the gateway host (`POST /wasm`, JSON form).
    ///
    /// Both of the gateway's answers are `Ok`: 200 when every module was registered and 400
    /// when some failed. Check [`WasmModuleAddResponse::all_succeeded`] and each descriptor's
    /// `add_result`.
    pub async fn add(&self, modules: Vec<WasmModuleDescriptor>) -> Result<WasmModuleAddResponse> {
        let req = ApiRequest::new(Method::POST, "/wasm", RouteKind::Admin)
            .json(&WasmModuleAddRequest { modules })?;
        self.send_add(req).await
    }

    /// Upload a module's bytes and register it (`POST /wasm`, `multipart/form-data`; an
    /// addition to upstream's API). The gateway records it as `upload://<name>.wasm`.
    /// Answers as [`add`](Self::add).
    pub async fn upload(
        &self,
        bytes: impl Into<Bytes>,
        name: &str,
        attach_points: &[MiddlewareAttachPoint],
    ) -> Result<WasmModuleAddResponse> {
        let file_name = if name.ends_with(".wasm") {
            name.to_string()
        } else {
            format!("{name}.wasm")
        };
        self.upload_as(bytes, name, &file_name, attach_points).await
    }

    /// Read the file at `path` on this machine and [`upload`](Self::upload) it; the gateway
    /// records it as `upload://<file name>`.
    pub async fn upload_file(
        &self,
        path: impl AsRef<Path>,
        name: &str,
        attach_points: &[MiddlewareAttachPoint],
    ) -> Result<WasmModuleAddResponse> {
        let path = path.as_ref();
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| Error::InvalidInput(format!("cannot read {}: {e}", path.display())))?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("{name}.wasm"));
        self.upload_as(bytes, name, &file_name, attach_points).await
    }

    async fn upload_as(
        &self,
        bytes: impl Into<Bytes>,
        name: &str,
        file_name: &str,
        attach_points: &[MiddlewareAttachPoint],
    ) -> Result<WasmModuleAddResponse> {
        let bytes = bytes.into();
        if bytes.is_empty() {
            return Err(Error::InvalidInput("the module file is empty".into()));
        }
        let points: Vec<WasmModuleAttachPoint> =
            attach_points.iter().copied().map(Into::into).collect();
        let points = serde_json::to_string(&points)
            .map_err(|e| Error::InvalidInput(format!("cannot encode attach points: {e}")))?;
        let (content_type, body) = multipart(
            &[("name", name), ("attach_points", &points)],
            ("file", file_name, &bytes),
        )?;
        let req =
            ApiRequest::new(Method::POST, "/wasm", RouteKind::Admin).bytes(content_type, body);
        self.send_add(req).await
    }

    async fn send_add(&self, req: ApiRequest) -> Result<WasmModuleAddResponse> {
        let resp = self.client.execute(req.accept_status(400)).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let (url, body) = read_bytes(resp).await?;
        if status < 300 {
            return serde_json::from_slice(&body).map_err(|e| Error::decode(&url, e, &body));
        }
        match serde_json::from_slice::<WasmModuleAddResponse>(&body) {
            Ok(added) if !added.modules.is_empty() => Ok(added),
            // A 400 that is not the per-module answer (bad JSON, bad form, …).
            _ => Err(ApiError::parse(status, &headers, &String::from_utf8_lossy(&body)).into()),
        }
    }

    /// Registered modules with gateway-wide execution metrics (`GET /wasm`).
    pub async fn list(&self) -> Result<WasmModuleList> {
        let req = ApiRequest::new(Method::GET, "/wasm", RouteKind::Admin);
        self.client.send_json(req).await
    }

    /// Remove a module (`DELETE /wasm/{module_uuid}`). Returns the gateway's text answer
    /// (`Module removed successfully`); an unknown or invalid UUID is an [`Error::Api`] with
    /// status 400.
    pub async fn remove(&self, module_uuid: &str) -> Result<String> {
        if module_uuid.trim().is_empty() {
            return Err(Error::InvalidInput("module UUID must not be empty".into()));
        }
        let req = ApiRequest::from_segments(
            Method::DELETE,
            vec!["wasm".into(), module_uuid.trim().to_string()],
            RouteKind::Admin,
        );
        self.client.send_text(req).await
    }
}

impl Client {
    /// The WASM modules API (`/wasm`).
    pub fn wasm(&self) -> Wasm<'_> {
        Wasm::new(self)
    }
}

/// Encode a `multipart/form-data` body with text `fields` and one file part.
fn multipart(fields: &[(&str, &str)], file: (&str, &str, &Bytes)) -> Result<(HeaderValue, Bytes)> {
    let (file_field, file_name, data) = file;
    let boundary = loop {
        let suffix: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(32)
            .map(char::from)
            .collect();
        let candidate = format!("smg-sdk-{suffix}");
        if !contains(data, candidate.as_bytes()) {
            break candidate;
        }
    };
    let mut body = BytesMut::with_capacity(data.len() + 512);
    for (name, value) in fields {
        body.put_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n",
                quote(name)?
            )
            .as_bytes(),
        );
        body.put_slice(value.as_bytes());
        body.put_slice(b"\r\n");
    }
    body.put_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\n\
             Content-Type: application/wasm\r\n\r\n",
            quote(file_field)?,
            quote(file_name)?
        )
        .as_bytes(),
    );
    body.put_slice(data);
    body.put_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let content_type = HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}"))
        .map_err(|e| Error::InvalidInput(format!("bad multipart boundary: {e}")))?;
    Ok((content_type, body.freeze()))
}

/// A value for a quoted `Content-Disposition` parameter.
fn quote(value: &str) -> Result<String> {
    if value.chars().any(char::is_control) {
        return Err(Error::InvalidInput(format!(
            "'{}' must not contain control characters",
            value.escape_debug()
        )));
    }
    Ok(value.replace('\\', "\\\\").replace('"', "\\\""))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_body_layout() {
        let data = Bytes::from_static(b"\0asm\x0d\0\x01\0");
        let (ct, body) = multipart(
            &[("name", "audit"), ("attach_points", "[\"x\"]")],
            ("file", "a\"b.wasm", &data),
        )
        .unwrap();
        let ct = ct.to_str().unwrap().to_string();
        let boundary = ct.strip_prefix("multipart/form-data; boundary=").unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with(&format!("--{boundary}\r\n")));
        assert!(text.contains("name=\"name\"\r\n\r\naudit\r\n"));
        assert!(text.contains("name=\"file\"; filename=\"a\\\"b.wasm\""));
        assert!(text.ends_with(&format!("\r\n--{boundary}--\r\n")));
        assert!(quote("a\nb").is_err());
    }
}
