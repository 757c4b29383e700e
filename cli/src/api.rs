//! `smgctl api METHOD PATH` (any route, like `gh api`) and `smgctl openapi`.
//!
//! The request uses smgctl's connection, context and credentials: the admin token on
//! control-plane paths, the API key on serving paths, nothing on public ones
//! ([`RouteKind::for_path`]); an `Authorization` header given with `-H` replaces them.

use std::io::Read;

use clap::Args;
use color_eyre::eyre::{Result, WrapErr, eyre};
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
use smg_sdk::{ApiRequest, Method, RouteKind};

use crate::Ctx;
use crate::exit::{Exit, UsageError};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  smgctl api GET /workers --jq '.workers[].url'
  smgctl api POST /v1/tokenize -d '{\"model\":\"m\",\"prompt\":\"hi\"}'
  smgctl api PATCH /workers/ID -f patch.json
  smgctl api GET /v1/models -H 'Authorization: Bearer sk-other'

The answer's body goes to stdout: JSON pretty-printed (YAML with -o yaml, filtered with
--jq), anything else as it is. A status other than 2xx prints the gateway's error on stderr
and exits non-zero (3 for 404, 4 for 401/403, else 1).")]
pub struct ApiArgs {
    /// HTTP method (GET, POST, PUT, PATCH, DELETE, …)
    #[arg(value_name = "METHOD")]
    method: String,
    /// Gateway path, with its query if any (e.g. /workers?model=m); percent-escapes are kept
    #[arg(value_name = "PATH")]
    path: String,
    /// Request body, JSON unless -H gives another Content-Type
    #[arg(
        short = 'd',
        long = "data",
        value_name = "BODY",
        conflicts_with = "file"
    )]
    data: Option<String>,
    /// Request body from a file (`-` reads stdin)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<String>,
    /// Extra request header (repeatable); an Authorization header is sent instead of
    /// smgctl's own credential
    #[arg(short = 'H', long = "header", value_name = "NAME:VALUE", value_parser = parse_header)]
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiArgs {
    /// Which credential the path takes (an explicit Authorization header: none of ours).
    pub fn route_kind(&self) -> RouteKind {
        if self.headers.iter().any(|(name, _)| name == AUTHORIZATION) {
            RouteKind::Public
        } else {
            RouteKind::for_path(&self.path)
        }
    }
}

/// `-H 'Name: value'` (curl's form; `Name:value` too).
fn parse_header(raw: &str) -> Result<(HeaderName, HeaderValue), String> {
    let Some((name, value)) = raw.split_once(':') else {
        return Err(format!("expected NAME:VALUE, got '{raw}'"));
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("the header name is empty in '{raw}'"));
    }
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("'{name}' is not a valid header name"))?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| format!("the value of {name} has characters not allowed in a header"))?;
    Ok((name, value))
}

fn parse_method(raw: &str) -> Result<Method> {
    let upper = raw.trim().to_ascii_uppercase();
    if upper.is_empty() || !upper.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(UsageError(format!(
            "'{raw}' is not an HTTP method (e.g. GET, POST, PUT, PATCH, DELETE)"
        ))
        .into());
    }
    Method::from_bytes(upper.as_bytes())
        .map_err(|_| UsageError(format!("'{raw}' is not an HTTP method")).into())
}

/// The request for `path`: its segments percent-decoded (the SDK encodes them again, so
/// `/v1/models/a%2Fb` still names the model `a/b`), its query kept.
fn request_for(method: Method, path: &str, route: RouteKind) -> Result<ApiRequest> {
    let path = path.trim();
    if path.contains("://") {
        return Err(UsageError(format!(
            "give a path such as /workers, not a URL ('{path}'); the gateway comes from --url, \
             SMG_URL or the context"
        ))
        .into());
    }
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let segments = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|d| d.into_owned())
                .map_err(|_| UsageError(format!("the path segment '{s}' is not UTF-8")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if segments.is_empty() {
        return Err(UsageError(format!("'{path}' names no route; give e.g. /workers")).into());
    }
    let mut req = ApiRequest::from_segments(method, segments, route);
    for (k, v) in url_query_pairs(query) {
        req = req.query(k, v);
    }
    Ok(req)
}

/// `a=1&b=x%20y` → pairs, decoded (the SDK encodes them again).
fn url_query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}

fn is_json_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// The body from -d or -f, and its content type (the -H one, else JSON, which is checked).
fn body(args: &ApiArgs) -> Result<Option<(HeaderValue, Vec<u8>)>> {
    let (bytes, source) = match (&args.data, &args.file) {
        (Some(data), _) => (data.clone().into_bytes(), "-d".to_string()),
        (None, Some(file)) if file == "-" => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .wrap_err("cannot read the request body from stdin")?;
            (buf, "stdin".to_string())
        }
        (None, Some(file)) => (
            std::fs::read(file).wrap_err_with(|| format!("cannot read the body file {file}"))?,
            file.clone(),
        ),
        (None, None) => return Ok(None),
    };
    let content_type = args
        .headers
        .iter()
        .find(|(name, _)| name == CONTENT_TYPE)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| HeaderValue::from_static("application/json"));
    if is_json_type(content_type.to_str().unwrap_or_default())
        && let Err(e) = serde_json::from_slice::<serde_json::Value>(&bytes)
    {
        return Err(UsageError(format!(
            "the body from {source} is not valid JSON: {e} (give another Content-Type with -H \
             to send it as it is)"
        ))
        .into());
    }
    Ok(Some((content_type, bytes)))
}

pub async fn run(ctx: &Ctx, args: ApiArgs) -> Result<Exit> {
    let method = parse_method(&args.method)?;
    let body = body(&args)?;
    let mut req = request_for(method, &args.path, args.route_kind())?;
    let has_body = body.is_some();
    if let Some((content_type, bytes)) = body {
        req = req.bytes(content_type, bytes);
    }
    for (name, value) in &args.headers {
        // The body's content type is set with the body.
        if has_body && name == CONTENT_TYPE {
            continue;
        }
        req = req.header(name.clone(), value.clone());
    }
    let resp = ctx.client.execute(req).await?;
    let content_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| eyre!(e))
        .wrap_err("cannot read the gateway's answer")?;
    print_body(ctx, &content_type, &bytes)?;
    Ok(Exit::Ok)
}

/// JSON (by its content type, or because it parses) as a document; anything else as it is.
fn print_body(ctx: &Ctx, content_type: &str, bytes: &[u8]) -> Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    let json = serde_json::from_slice::<serde_json::Value>(bytes);
    match json {
        Ok(value) => ctx.out.document(&value),
        Err(e) if is_json_type(content_type) => Err(eyre!(
            "the gateway's answer says it is JSON but does not parse: {e}"
        )),
        Err(_) if ctx.out.has_jq() => Err(UsageError(format!(
            "--jq needs JSON, and the answer is {}",
            if content_type.is_empty() {
                "not JSON".to_string()
            } else {
                content_type.to_string()
            }
        ))
        .into()),
        Err(_) => {
            let mut text = String::from_utf8_lossy(bytes).into_owned();
            if !text.ends_with('\n') {
                text.push('\n');
            }
            ctx.out.write(&text)
        }
    }
}

/// `smgctl openapi`: the gateway's OpenAPI document (public, no credential).
pub async fn openapi(ctx: &Ctx) -> Result<Exit> {
    let req = ApiRequest::new(Method::GET, "/openapi.json", RouteKind::Public);
    let doc: serde_json::Value = ctx.client.send_json(req).await?;
    ctx.out.document(&doc)?;
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn headers_parse_like_curl() {
        let (n, v) = parse_header("X-Trace: abc def").unwrap();
        assert_eq!((n.as_str(), v.to_str().unwrap()), ("x-trace", "abc def"));
        let (n, v) = parse_header("content-type:text/plain").unwrap();
        assert_eq!(n, CONTENT_TYPE);
        assert_eq!(v, "text/plain");
        // A colon in the value stays there.
        let (_, v) = parse_header("X-Url: http://a:1").unwrap();
        assert_eq!(v, "http://a:1");
        assert!(parse_header("no-colon").unwrap_err().contains("NAME:VALUE"));
        assert!(parse_header(": v").unwrap_err().contains("empty"));
        assert!(
            parse_header("bad name: v")
                .unwrap_err()
                .contains("not a valid")
        );
        assert!(parse_header("X: a\nb").is_err());
    }

    #[test]
    fn methods() {
        assert_eq!(parse_method("get").unwrap(), Method::GET);
        assert_eq!(parse_method("PATCH").unwrap(), Method::PATCH);
        assert!(parse_method("GE T").is_err());
        assert!(parse_method("").is_err());
    }

    #[test]
    fn paths_keep_escapes_and_queries() {
        let c = smg_sdk::Client::new("http://h:1").unwrap();
        let req = request_for(Method::GET, "/v1/models/a%2Fb", RouteKind::Public).unwrap();
        assert_eq!(req.path(), "/v1/models/a/b");
        let req = request_for(Method::GET, "workers?model=m%26x&x=a+b", RouteKind::Admin).unwrap();
        assert_eq!(req.path(), "/workers");
        let built = c.url_for(&["v1", "models", "a/b"], &[]).unwrap();
        assert_eq!(built.as_str(), "http://h:1/v1/models/a%2Fb");
        assert_eq!(
            url_query_pairs("model=m%26x&x=a+b&flag"),
            [
                ("model".to_string(), "m&x".to_string()),
                ("x".to_string(), "a b".to_string()),
                ("flag".to_string(), String::new())
            ]
        );
        assert!(request_for(Method::GET, "http://h:1/workers", RouteKind::Admin).is_err());
        assert!(request_for(Method::GET, "/", RouteKind::Admin).is_err());
    }

    #[test]
    fn credentials_follow_the_path_unless_given() {
        let args = |path: &str, headers: Vec<(HeaderName, HeaderValue)>| ApiArgs {
            method: "GET".into(),
            path: path.into(),
            data: None,
            file: None,
            headers,
        };
        assert_eq!(args("/workers", vec![]).route_kind(), RouteKind::Admin);
        assert_eq!(args("/v1/models", vec![]).route_kind(), RouteKind::Serving);
        assert_eq!(args("/health", vec![]).route_kind(), RouteKind::Public);
        let auth = parse_header("Authorization: Bearer x").unwrap();
        assert_eq!(args("/workers", vec![auth]).route_kind(), RouteKind::Public);
    }

    #[test]
    fn json_bodies_are_checked() {
        let mut a = ApiArgs {
            method: "POST".into(),
            path: "/x".into(),
            data: Some("{\"a\":".into()),
            file: None,
            headers: vec![],
        };
        assert!(body(&a).unwrap_err().to_string().contains("not valid JSON"));
        a.headers = vec![parse_header("Content-Type: text/plain").unwrap()];
        let (ct, bytes) = body(&a).unwrap().unwrap();
        assert_eq!(ct, "text/plain");
        assert_eq!(bytes, b"{\"a\":");
        a.headers.clear();
        a.data = Some("{\"a\":1}".into());
        assert_eq!(body(&a).unwrap().unwrap().0, "application/json");
        assert!(is_json_type("application/problem+json; charset=utf-8"));
        assert!(!is_json_type("text/plain"));
    }
}
