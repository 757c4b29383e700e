//! A tolerant reader of the Prometheus text exposition format, for engine `/metrics` and the
//! gateway's own metrics. It accepts metric names with `:` (vLLM, SGLang) and samples without
//! `# TYPE` lines; malformed lines are skipped.
//!
//! Written here rather than taken from crates.io because the candidates do not fit:
//! `prometheus-parse` 0.2.5 matches names with `\w+`, so it silently drops every
//! `vllm:`/`sglang:` sample, and it cuts a label value at the first `}`; `openmetrics-parser`
//! is LGPL-3.0, which a statically linked Apache-2.0 binary should not take on.

use std::collections::BTreeMap;

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name.
    pub name: String,
    /// Label pairs in order of appearance.
    pub labels: Vec<(String, String)>,
    /// Sample value.
    pub value: f64,
}

impl Sample {
    /// The value of label `name`, if present.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Every well-formed sample of `text`.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines().filter_map(parse_line).collect()
}

/// Samples summed over label sets, by metric name.
pub fn sums(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for sample in parse(text) {
        *out.entry(sample.name).or_insert(0.0) += sample.value;
    }
    out
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        let (parsed, remainder) = parse_labels(after)?;
        labels = parsed;
        rest = remainder;
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Parse `k="v",…}`; returns the labels and the text after `}`.
fn parse_labels(mut s: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start_matches([' ', ',']);
        if let Some(rest) = s.strip_prefix('}') {
            return Some((labels, rest));
        }
        let eq = s.find('=')?;
        let key = s[..eq].trim().to_string();
        let mut chars = s[eq + 1..].trim_start().char_indices();
        let start = s.len() - s[eq + 1..].trim_start().len();
        if chars.next()?.1 != '"' {
            return None;
        }
        let mut value = String::new();
        let mut escaped = false;
        let mut end = None;
        for (i, c) in chars {
            match (escaped, c) {
                (true, 'n') => {
                    value.push('\n');
                    escaped = false;
                }
                (true, c) => {
                    value.push(c);
                    escaped = false;
                }
                (false, '\\') => escaped = true,
                (false, '"') => {
                    end = Some(start + i + 1);
                    break;
                }
                (false, c) => value.push(c),
            }
        }
        labels.push((key, value));
        s = &s[end?..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_colon_names_labels_and_untyped_samples() {
        let text = "# HELP vllm:x X\n# TYPE vllm:x gauge\nvllm:x{model_name=\"m\",a=\"q\\\"}\"} 3\n\
                    vllm:x{model_name=\"n\"} 4 1700000000\nplain 1e3\nbad line here\nh_bucket{le=\"+Inf\"} 2\n";
        let samples = parse(text);
        assert_eq!(samples.len(), 4);
        assert_eq!(samples[0].label("a"), Some("q\"}"));
        let sums = sums(text);
        assert_eq!(sums["vllm:x"], 7.0);
        assert_eq!(sums["plain"], 1000.0);
    }

    #[test]
    fn reads_the_gateways_own_metrics() {
        let text = "# HELP smg_requests_total Proxied requests\n# TYPE smg_requests_total counter\n\
                    smg_requests_total{route=\"/v1/chat/completions\",model=\"m\",worker=\"http://127.0.0.1:1\",status=\"200\"} 7\n\
                    smg_request_duration_seconds_bucket{route=\"/generate\",model=\"*\",worker=\"http://[::1]:2\",le=\"0.005\"} 3\n\
                    smg_job_queue_depth 0\n";
        let samples = parse(text);
        assert_eq!(samples.len(), 3);
        assert_eq!(samples[0].label("worker"), Some("http://127.0.0.1:1"));
        assert_eq!(samples[0].label("status"), Some("200"));
        assert_eq!(samples[0].value, 7.0);
        assert_eq!(samples[1].label("le"), Some("0.005"));
        assert_eq!(samples[2].name, "smg_job_queue_depth");
    }

    #[test]
    fn malformed_lines_are_skipped() {
        assert!(parse("x{a=\"unterminated} 1\n{} 2\n 3\n").is_empty());
    }
}
