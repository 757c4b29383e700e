//! Checks on a module file named by path (`POST /wasm`, JSON form), as upstream's
//! registration workflow does them: absolute path, no `.`/`..` components, `.wasm` extension,
//! not under a system directory (also after resolving symlinks), an existing non-empty file;
//! and, like an upload, no larger than `--max-wasm-upload-bytes`.

use std::path::{Path, PathBuf};

use tokio::io::AsyncReadExt;

/// Directories a module may not be read from.
pub const PROTECTED_DIRS: [&str; 8] = [
    "/etc/",
    "/proc/",
    "/sys/",
    "/dev/",
    "/boot/",
    "/root/",
    "/var/log/",
    "/var/run/",
];

/// Check the descriptor's path without touching the filesystem.
pub fn check_path(raw: &str) -> Result<PathBuf, String> {
    if raw.trim().is_empty() {
        return Err("file_path must not be empty".into());
    }
    let path = Path::new(raw);
    if !path.is_absolute() {
        return Err(format!("file_path must be an absolute path: '{raw}'"));
    }
    if raw
        .split('/')
        .any(|segment| segment == ".." || segment == ".")
    {
        return Err(format!(
            "file_path must not contain '..' or '.' components: '{raw}'"
        ));
    }
    check_extension_and_dir(path)?;
    Ok(path.to_path_buf())
}

fn check_extension_and_dir(path: &Path) -> Result<(), String> {
    if path.extension().and_then(|e| e.to_str()) != Some("wasm") {
        return Err(format!(
            "file_path must name a .wasm file: '{}'",
            path.display()
        ));
    }
    let shown = path.to_string_lossy();
    if let Some(dir) = PROTECTED_DIRS.iter().find(|dir| shown.starts_with(*dir)) {
        return Err(format!(
            "file_path is under the system directory {dir}, which modules may not be loaded from: '{shown}'"
        ));
    }
    Ok(())
}

/// Validate the descriptor's name and path and read the file (at most `max_bytes`).
pub async fn read_module_file(name: &str, raw: &str, max_bytes: usize) -> Result<Vec<u8>, String> {
    if name.trim().is_empty() {
        return Err("name must not be empty".into());
    }
    let path = check_path(raw)?;
    let resolved = tokio::fs::canonicalize(&path)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!("file not found: '{raw}'"),
            _ => format!("cannot access '{raw}': {e}"),
        })?;
    check_extension_and_dir(&resolved)
        .map_err(|e| format!("{e} (after resolving symlinks of '{raw}')"))?;
    let meta = tokio::fs::metadata(&resolved)
        .await
        .map_err(|e| format!("cannot access '{raw}': {e}"))?;
    if !meta.is_file() {
        return Err(format!("not a regular file: '{raw}'"));
    }
    if meta.len() == 0 {
        return Err(format!("file is empty: '{raw}'"));
    }
    let too_large = |len: u64| {
        format!(
            "file is {len} bytes, over the {max_bytes}-byte limit (--max-wasm-upload-bytes): '{raw}'"
        )
    };
    if meta.len() > max_bytes as u64 {
        return Err(too_large(meta.len()));
    }
    // Read at most one byte past the cap: the file may have grown since `metadata`.
    let file = tokio::fs::File::open(&resolved)
        .await
        .map_err(|e| format!("cannot read '{raw}': {e}"))?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max_bytes as u64 + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| format!("cannot read '{raw}': {e}"))?;
    if bytes.len() > max_bytes {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_rules() {
        assert!(check_path("/opt/wasm/a.wasm").is_ok());
        for (raw, needle) in [
            ("", "must not be empty"),
            ("opt/a.wasm", "absolute"),
            ("/opt/../etc/a.wasm", "'..'"),
            ("/opt/./a.wasm", "'..' or '.'"),
            ("/opt/a.wat", ".wasm"),
            ("/opt/a", ".wasm"),
            ("/etc/smg/a.wasm", "/etc/"),
            ("/var/run/a.wasm", "/var/run/"),
            ("/proc/self/a.wasm", "/proc/"),
        ] {
            let err = check_path(raw).unwrap_err();
            assert!(err.contains(needle), "{raw}: {err}");
        }
    }

    const MAX: usize = 1024;

    #[tokio::test]
    async fn file_rules() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.wasm");
        let err = read_module_file("m", missing.to_str().unwrap(), MAX)
            .await
            .unwrap_err();
        assert!(err.contains("not found"), "{err}");
        let empty = dir.path().join("empty.wasm");
        std::fs::write(&empty, b"").unwrap();
        let err = read_module_file("m", empty.to_str().unwrap(), MAX)
            .await
            .unwrap_err();
        assert!(err.contains("empty"), "{err}");
        let good = dir.path().join("good.wasm");
        std::fs::write(&good, b"\0asm").unwrap();
        assert_eq!(
            read_module_file("m", good.to_str().unwrap(), MAX)
                .await
                .unwrap(),
            b"\0asm"
        );
        let err = read_module_file(" ", good.to_str().unwrap(), MAX)
            .await
            .unwrap_err();
        assert!(err.contains("name"), "{err}");
        // The upload cap holds for files too.
        let big = dir.path().join("big.wasm");
        std::fs::write(&big, vec![0u8; MAX + 1]).unwrap();
        let err = read_module_file("m", big.to_str().unwrap(), MAX)
            .await
            .unwrap_err();
        assert!(
            err.contains("1025 bytes, over the 1024-byte limit (--max-wasm-upload-bytes)"),
            "{err}"
        );
        std::fs::write(&big, vec![0u8; MAX]).unwrap();
        assert_eq!(
            read_module_file("m", big.to_str().unwrap(), MAX)
                .await
                .unwrap()
                .len(),
            MAX
        );
        // A symlink with a .wasm name pointing at something else is checked after resolution.
        let target = dir.path().join("data.bin");
        std::fs::write(&target, b"x").unwrap();
        let link = dir.path().join("link.wasm");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = read_module_file("m", link.to_str().unwrap(), MAX)
            .await
            .unwrap_err();
        assert!(err.contains("after resolving symlinks"), "{err}");
    }
}
