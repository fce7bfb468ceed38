//! Files in `[global] data_dir` (a feed's copy, the bans, the challenge secret) written
//! whole: into a file beside the target, then renamed over it, so that a reader — or the
//! next start after a crash — finds the old content or the new, never half of it. Each is
//! its owner's alone (0600): a feed's URL may carry a token, the secret is a secret.
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Writes `content` to `path` whole, mode 0600 (its folder made when missing); `sync`: on
/// disk before it replaces the old file (what must survive a power cut, not only a crash).
pub fn write_whole(path: &Path, content: &[u8], sync: bool) -> std::io::Result<()> {
    if let Some(folder) = path.parent() {
        make_folder(folder)?;
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .and_then(|mut file| {
            file.write_all(content)?;
            if sync {
                file.sync_all()?;
            }
            Ok(())
        })
        .and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// The text of `path`: `Ok(None)` when there is no such file (nothing kept yet), `Err`
/// naming the file when it cannot be read.
pub fn read(path: &Path) -> Result<Option<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read `{}`: {e}", path.display())),
    }
}

/// Makes `folder` (and those above it) when missing, each its owner's alone (0700), as
/// the certificates' folders are.
pub fn make_folder(folder: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(folder)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_file_is_replaced_whole_in_a_folder_made_for_it() {
        let dir = std::env::temp_dir().join(format!("forecourt-state-file-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub").join("bans");
        write_whole(&path, b"one\n", false).unwrap();
        write_whole(&path, b"two\n", true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        let left: Vec<_> =
            std::fs::read_dir(path.parent().unwrap()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(left, ["bans"], "no temporary file left");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
