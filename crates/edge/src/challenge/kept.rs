//! What challenges keep in `[global] data_dir`. The secret (`challenge.secret`, mode
//! 0600), so that the passes visitors earned hold after a restart — without it, a deploy
//! during an attack sends every visitor back to the puzzle — and instances that share the
//! folder accept each other's: 64 hex digits and a newline; with `[redis]`, the secret
//! stored there replaces it (and is written here in its place). And the "under attack"
//! switch as the admin API last set it (`under_attack`), with what the config said then:
//! a restart keeps the API's word while the config says the same, as a reload does.
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The secret at `path`; when there is none, `fresh`, written there first. Two processes
/// starting at once agree: the file is created only if it is absent, and the one that
/// loses reads the winner's. A file that holds anything else is an error (it is not
/// replaced: it may be an operator's).
pub fn load_or_create(path: &Path, fresh: [u8; 32]) -> Result<[u8; 32], String> {
    if let Some(folder) = path.parent() {
        crate::state_file::make_folder(folder).map_err(|e| format!("cannot create `{}`: {e}", folder.display()))?;
    }
    let created = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path);
    match created {
        Ok(mut file) => {
            let written = file.write_all(format!("{}\n", to_text(&fresh)).as_bytes()).and_then(|()| file.sync_all());
            match written {
                Ok(()) => Ok(fresh),
                Err(e) => {
                    let _ = std::fs::remove_file(path);
                    Err(format!("cannot write `{}`: {e}", path.display()))
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(format!("cannot create `{}`: {e}", path.display())),
    }
}

fn read(path: &Path) -> Result<[u8; 32], String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    from_text(text.trim().as_bytes()).ok_or_else(|| format!("`{}` does not hold 64 hex digits", path.display()))
}

/// Writes `secret` over what `path` holds (the secret shared through Redis).
pub fn replace(path: &Path, secret: &[u8; 32]) -> std::io::Result<()> {
    crate::state_file::write_whole(path, format!("{}\n", to_text(secret)).as_bytes(), true)
}

/// The secret's file in `folder`.
pub fn secret_path(folder: &Path) -> PathBuf {
    folder.join("challenge.secret")
}

/// Keeps the API's switch, `on`, set while the config said `configured`.
pub fn write_switch(folder: &Path, on: bool, configured: bool) -> std::io::Result<()> {
    let text = format!("api={on} config={configured}\n");
    crate::state_file::write_whole(&folder.join("under_attack"), text.as_bytes(), true)
}

/// The API's switch kept in `folder`, if it was set while the config said `configured`.
pub fn read_switch(folder: &Path, configured: bool) -> Option<bool> {
    let text = std::fs::read_to_string(folder.join("under_attack")).ok()?;
    let mut fields = text.split_whitespace();
    let api = fields.next()?.strip_prefix("api=")?.parse::<bool>().ok()?;
    let then = fields.next()?.strip_prefix("config=")?.parse::<bool>().ok()?;
    (then == configured).then_some(api)
}

/// Forgets the API's switch (the config has spoken since).
pub fn forget_switch(folder: &Path) {
    let _ = std::fs::remove_file(folder.join("under_attack"));
}

/// A secret as 64 hex digits (how Redis and the file hold it).
pub fn to_text(secret: &[u8; 32]) -> String {
    secret.iter().map(|b| format!("{b:02x}")).collect()
}

/// 64 hex digits as a secret.
pub fn from_text(text: &[u8]) -> Option<[u8; 32]> {
    let text = std::str::from_utf8(text).ok()?;
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_first_start_writes_its_secret_and_the_next_reads_it() {
        let dir = std::env::temp_dir().join(format!("forecourt-secret-{}", std::process::id()));
        let path = dir.join("challenge.secret");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(load_or_create(&path, [7; 32]), Ok([7; 32]));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(load_or_create(&path, [9; 32]), Ok([7; 32]), "the kept one, not a fresh one");
        replace(&path, &[0xab; 32]).unwrap();
        assert_eq!(load_or_create(&path, [9; 32]), Ok([0xab; 32]));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::write(&path, "not a secret\n").unwrap();
        let why = load_or_create(&path, [9; 32]).unwrap_err();
        assert!(why.contains("64 hex digits"), "{why}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a secret\n", "left as it was");
        assert_eq!(from_text(to_text(&[0xab; 32]).as_bytes()), Some([0xab; 32]));
        assert_eq!(from_text(b"abc"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_apis_switch_is_kept_with_what_the_config_said() {
        let dir = std::env::temp_dir().join(format!("forecourt-switch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(read_switch(&dir, false), None, "never set");
        write_switch(&dir, true, false).unwrap();
        assert_eq!(read_switch(&dir, false), Some(true));
        assert_eq!(read_switch(&dir, true), None, "the config changed since: its word");
        write_switch(&dir, false, true).unwrap();
        assert_eq!(read_switch(&dir, true), Some(false));
        std::fs::write(dir.join("under_attack"), "yes\n").unwrap();
        assert_eq!(read_switch(&dir, true), None, "damaged");
        forget_switch(&dir);
        assert!(!dir.join("under_attack").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
