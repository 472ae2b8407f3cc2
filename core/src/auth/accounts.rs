//! Staff accounts: who may sign in with a password.
//!
//! The accounts file (TOML, named by `[accounts] file`) holds one `[[account]]` per person,
//! with an argon2id hash of the password — never the password:
//!
//! ```toml
//! [[account]]
//! user_id = "t.smith"
//! name = "Ms Smith"
//! password = "$argon2id$v=19$m=19456,t=2,p=1$…"
//! admin = false
//! ```
//!
//! `classpulse user add` writes it. A running server re-reads the file when it changes, so new
//! accounts can sign in without a restart. Which courses a teacher or TA sees comes from the
//! roster (their `user_id` as a course's staff), not from here.
//!
//! **Seam for single sign-on (OIDC).** Password checking is one implementation of "who is
//! this person": [`Accounts::verify_password`] returns the account a sign-in establishes, and
//! the web layer turns it into a signed session. An OpenID Connect provider would be a second
//! way to reach the same point: after the provider's redirect, map its `sub`/`email` claim to
//! an account `user_id` (or create one) and issue the same session. Nothing else changes:
//! rights come from the session's kind and admin flag, and from the roster.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::SystemTime;

/// `[accounts]` in `config.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountsConfig {
    /// The accounts file (TOML). None: nobody can sign in with a password (students still can,
    /// with their token links).
    pub file: Option<PathBuf>,
}

/// One staff account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// The sign-in name; also the `user_id` rosters list staff by.
    pub user_id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// The argon2 hash of the password (PHC string format).
    pub password: String,
    /// May manage every course and account.
    #[serde(default)]
    pub admin: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountsFile {
    #[serde(default)]
    account: Vec<Account>,
}

/// An accounts file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// Reading or writing failed.
    #[error("accounts file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Bad TOML, a duplicate, or a password that is not an argon2 hash.
    #[error("invalid accounts file {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong (with the line, for TOML errors).
        message: String,
    },
    /// A bad user id or password.
    #[error("{0}")]
    Value(String),
}

/// The staff accounts a server knows: from the accounts file, plus any added in memory
/// (the demo account).
#[derive(Debug, Default)]
pub struct Accounts {
    path: Option<PathBuf>,
    inner: RwLock<Loaded>,
}

#[derive(Debug, Default)]
struct Loaded {
    from_file: BTreeMap<String, Account>,
    in_memory: BTreeMap<String, Account>,
    modified: Option<SystemTime>,
}

/// Hashes a password with argon2id and a random salt.
///
/// # Errors
/// When hashing fails (it does not with the default parameters).
pub fn hash_password(password: &str) -> Result<String, AccountsError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountsError::Value(format!("cannot hash the password: {e}")))
}

fn check_hash(hash: &str) -> bool {
    PasswordHash::new(hash).is_ok()
}

/// A dummy hash to verify against when the user is unknown, so a wrong name takes as long
/// as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a password").unwrap_or_default())
}

impl Accounts {
    /// Loads the accounts file named in `config` (none: an empty set).
    ///
    /// # Errors
    /// When the file is unreadable or invalid. A missing file is empty.
    pub fn load(config: &AccountsConfig) -> Result<Accounts, AccountsError> {
        let accounts = Accounts {
            path: config.file.clone(),
            inner: RwLock::default(),
        };
        accounts.reload_if_changed()?;
        Ok(accounts)
    }

    fn read_file(path: &Path) -> Result<BTreeMap<String, Account>, AccountsError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(source) => {
                return Err(AccountsError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let invalid = |message: String| AccountsError::Invalid {
            path: path.to_owned(),
            message,
        };
        let file: AccountsFile = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let mut out = BTreeMap::new();
        for account in file.account {
            if !check_hash(&account.password) {
                return Err(invalid(format!(
                    "account {:?}: password is not an argon2 hash (use `classpulse user add`)",
                    account.user_id
                )));
            }
            let id = account.user_id.clone();
            if out.insert(id.clone(), account).is_some() {
                return Err(invalid(format!("account {id:?} is listed twice")));
            }
        }
        Ok(out)
    }

    /// Re-reads the file when it changed since the last read.
    ///
    /// # Errors
    /// When the changed file is invalid (the previous accounts stay in force).
    pub fn reload_if_changed(&self) -> Result<(), AccountsError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if self
            .inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .modified
            == modified
            && modified.is_some()
        {
            return Ok(());
        }
        let from_file = Self::read_file(path)?;
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.from_file = from_file;
        inner.modified = modified;
        Ok(())
    }

    /// Adds an account held in memory only (the demo's).
    pub fn add_in_memory(&self, account: Account) {
        self.inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .in_memory
            .insert(account.user_id.clone(), account);
    }

    /// An account by user id.
    pub fn get(&self, user_id: &str) -> Option<Account> {
        let _ = self.reload_if_changed();
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner
            .in_memory
            .get(user_id)
            .or_else(|| inner.from_file.get(user_id))
            .cloned()
    }

    /// The account, when `password` is its password. Takes argon2's time whether or not the
    /// account exists. Blocking (tens of milliseconds): call it off the async threads.
    pub fn verify_password(&self, user_id: &str, password: &str) -> Option<Account> {
        let account = self.get(user_id);
        let hash = account
            .as_ref()
            .map_or(dummy_hash(), |a| a.password.as_str());
        let ok = PasswordHash::new(hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        account.filter(|_| ok)
    }

    /// Whether any account can sign in.
    pub fn is_empty(&self) -> bool {
        let _ = self.reload_if_changed();
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.from_file.is_empty() && inner.in_memory.is_empty()
    }
}

/// Adds or replaces an account in the file at `path` (created when missing), keeping the
/// others. The file is written whole and renamed into place, readable by its owner only.
///
/// # Errors
/// A bad user id, a short password, or an unusable file.
pub fn add_to_file(
    path: &Path,
    user_id: &str,
    name: &str,
    password: &str,
    admin: bool,
) -> Result<bool, AccountsError> {
    if !crate::roster::config::valid_id(user_id) {
        return Err(AccountsError::Value(format!(
            "user id {user_id:?}: use 1-128 letters, digits, '@', '.', '_' or '-'"
        )));
    }
    if password.chars().count() < 8 {
        return Err(AccountsError::Value(
            "the password must be at least 8 characters".into(),
        ));
    }
    let mut accounts = Accounts::read_file(path)?;
    let replaced = accounts
        .insert(
            user_id.to_owned(),
            Account {
                user_id: user_id.to_owned(),
                name: name.to_owned(),
                password: hash_password(password)?,
                admin,
            },
        )
        .is_some();
    let file = AccountsFile {
        account: accounts.into_values().collect(),
    };
    let text = format!(
        "# ClassPulse staff accounts; written by `classpulse user add`. Passwords are argon2 hashes.\n\n{}",
        toml::to_string_pretty(&file).map_err(|e| AccountsError::Value(e.to_string()))?
    );
    let io = |source| AccountsError::Io {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(true).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    {
        use std::io::Write;
        let mut f = options.open(&tmp).map_err(io)?;
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(replaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_verify_and_reload() {
        let dir = std::env::temp_dir().join(format!(
            "classpulse-accounts-{}",
            crate::datadir::random_hex(6)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("accounts.toml");
        let accounts = Accounts::load(&AccountsConfig {
            file: Some(path.clone()),
        })
        .unwrap();
        assert!(accounts.is_empty());
        assert!(!add_to_file(&path, "t.smith", "Ms Smith", "correct horse", false).unwrap());
        assert!(add_to_file(&path, "t.smith", "Ms Smith", "short", false).is_err());
        assert!(add_to_file(&path, "bad id", "X", "correct horse", false).is_err());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("$argon2id$") && !text.contains("correct horse"));
        // The running server's accounts see the new file.
        let who = accounts
            .verify_password("t.smith", "correct horse")
            .unwrap();
        assert_eq!(who.name, "Ms Smith");
        assert!(accounts.verify_password("t.smith", "wrong horse").is_none());
        assert!(
            accounts
                .verify_password("nobody", "correct horse")
                .is_none()
        );
        std::fs::write(
            &path,
            "[[account]]\nuser_id = \"x\"\npassword = \"plain\"\n",
        )
        .unwrap();
        let e = Accounts::load(&AccountsConfig { file: Some(path) }).unwrap_err();
        assert!(e.to_string().contains("not an argon2 hash"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
