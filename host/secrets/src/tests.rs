//! Unit tests of loading secrets, with keys made for the suite.

use super::*;
use age::x25519;
use std::io::Write as _;

const KEY: &str = "AGE-SECRET-KEY-1X5GTT3VHGJUXL2P0H3NHN9JXDXHAJYFVND6QJAML0KYDW3VDCVJQ6J8QQD";
const PUBLIC: &str = "age1rfck70qf4e5jfnh9m5t3vnkw9e7wne8ejcllraxrpqft882f64vs8l0j8d";

struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new(env: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo { dir };
        repo.write("environments/test/environment.cfg", env.as_bytes());
        repo.write("keys.txt", format!("# test\n{KEY}\n").as_bytes());
        repo
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, bytes: &[u8]) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    fn secrets(&self, plaintext: &str) {
        let bytes = encrypt(plaintext.as_bytes(), &[PUBLIC]).unwrap();
        self.write("environments/test/secrets.cfg.age", &bytes);
    }

    fn read(&self) -> Result<Option<Secrets>, ConfigError> {
        let env = berth_config::load(self.dir.path(), "test").unwrap();
        read(&env, &IdentitySources::only(vec![self.path("keys.txt")]))
    }

    fn err(&self) -> String {
        let prefix = format!("{}/", self.dir.path().display());
        self.read().unwrap_err().to_string().replace(&prefix, "")
    }
}

#[test]
fn file_names_for_both_layouts() {
    assert_eq!(
        secrets_file(Path::new("environments/prod/environment.cfg")),
        Path::new("environments/prod/secrets.cfg.age")
    );
    assert_eq!(
        secrets_file(Path::new("environments/prod.cfg")),
        Path::new("environments/prod.secrets.cfg.age")
    );
}

#[test]
fn no_file_needs_no_identity() {
    let repo = Repo::new("[environment]\n");
    let env = berth_config::load(repo.dir.path(), "test").unwrap();
    let none = IdentitySources::default();
    assert_eq!(read(&env, &none).unwrap(), None);
}

#[test]
fn decrypts_component_sections_with_plaintext_lines() {
    let repo = Repo::new("[component:app]\nport = 1\n");
    repo.secrets(
        "# db\n[component:app]\npassword = s3cr${et}\n\n[component:db]\nkeys =\n    a\n    b\n",
    );
    let secrets = repo.read().unwrap().unwrap();
    let app = &secrets.components["app"];
    assert_eq!(app.attributes["password"].value, "s3cr${et}");
    assert_eq!(app.attributes["password"].origin.line, 3);
    assert_eq!(secrets.components["db"].attributes["keys"].value, "a\nb");
    let debug = format!("{secrets:?}");
    assert!(!debug.contains("s3cr"), "{debug}");
    assert!(debug.contains("password"), "{debug}");
}

#[test]
fn armored_files_decrypt_too() {
    let repo = Repo::new("");
    let bytes = encrypt(b"[component:a]\nx = 1\n", &[PUBLIC]).unwrap();
    let mut armored = Vec::new();
    let mut w =
        age::armor::ArmoredWriter::wrap_output(&mut armored, age::armor::Format::AsciiArmor)
            .unwrap();
    w.write_all(&bytes).unwrap();
    w.finish().unwrap();
    repo.write("environments/test/secrets.cfg.age", &armored);
    assert_eq!(
        repo.read().unwrap().unwrap().components["a"].attributes["x"].value,
        "1"
    );
}

#[test]
fn environment_sections_are_refused() {
    let repo = Repo::new("");
    repo.secrets("[component:a]\nx = 1\n[hosts]\nweb = a\n");
    assert_eq!(
        repo.err(),
        "environments/test/secrets.cfg.age:3: `[hosts]` is not allowed in secrets\n  hint: secrets hold `[batou]`, `[host:NAME]` (host data) and `[component:NAME]` or `[NAME]` sections of attribute overrides; everything else belongs in the environment file"
    );
    repo.secrets("[component:a b]\n");
    assert!(repo.err().contains(":1: invalid component name `a b`"));
}

#[test]
fn syntax_errors_hide_the_line() {
    let repo = Repo::new("");
    repo.secrets("[component:a]\npassword: hunter2\n");
    let err = repo.err();
    assert!(!err.contains("hunter2"), "{err}");
    assert!(
        err.starts_with("environments/test/secrets.cfg.age:2: expected `key = value`"),
        "{err}"
    );
}

#[test]
fn same_key_in_environment_is_an_error_naming_both() {
    let repo = Repo::new("[component:a]\nx = 1\ny = 2\n");
    repo.secrets("[component:a]\ny = 3\n");
    assert_eq!(
        repo.err(),
        "environments/test/secrets.cfg.age:2: attribute `y` of component `a` is set both in secrets and in the environment, at environments/test/environment.cfg:3\n  hint: remove one of them: `y` is either a secret or not"
    );
}

#[test]
fn plaintext_beside_is_refused() {
    let repo = Repo::new("");
    repo.write("environments/test/secrets.cfg", b"[component:a]\n");
    let err = repo.err();
    assert!(
        err.starts_with("environments/test/secrets.cfg: a plaintext secrets file is not read"),
        "{err}"
    );
}

#[test]
fn identity_lookup_order_and_errors() {
    let repo = Repo::new("");
    repo.secrets("[component:a]\nx = 1\n");
    let env = berth_config::load(repo.dir.path(), "test").unwrap();
    let keys = repo.path("keys.txt");
    let missing = repo.path("nowhere/keys.txt");
    // The variable wins over the default, the command line over both.
    let sources = IdentitySources {
        files: vec![],
        variable: Some(keys.clone()),
        default: Some(missing.clone()),
        ssh: vec![],
    };
    assert!(read(&env, &sources).unwrap().is_some());
    let sources = IdentitySources {
        files: vec![keys.clone()],
        variable: Some(missing.clone()),
        default: None,
        ssh: vec![],
    };
    assert!(read(&env, &sources).unwrap().is_some());
    let sources = IdentitySources {
        files: vec![],
        variable: None,
        default: Some(keys.clone()),
        ssh: vec![missing.clone()],
    };
    assert!(read(&env, &sources).unwrap().is_some());
    let err = read(&env, &IdentitySources::only(vec![]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no age identity to decrypt it"), "{err}");
    assert!(err.contains("neither `HOME` nor"), "{err}");
    let err = read(
        &env,
        &IdentitySources {
            default: Some(missing.clone()),
            ..IdentitySources::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(&format!("`{}` does not exist", missing.display())),
        "{err}"
    );
    assert!(err.contains("hint: pass `--identity FILE`"), "{err}");
    let err = read(&env, &IdentitySources::only(vec![missing.clone()]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot read the age identity file"), "{err}");
}

#[test]
fn bad_identity_files_name_the_line_not_the_content() {
    let repo = Repo::new("");
    repo.secrets("[component:a]\n");
    repo.write("keys.txt", b"# mine\nAGE-SECRET-KEY-1NOTAKEY\n");
    let err = repo.err();
    assert!(err.starts_with("keys.txt:2: not an age identity"), "{err}");
    assert!(!err.contains("NOTAKEY"), "{err}");
    repo.write("keys.txt", b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n");
    let err = repo.err();
    assert!(
        err.starts_with("keys.txt: is not an SSH key berth can use"),
        "{err}"
    );
    repo.write("keys.txt", b"# nothing\n\n");
    assert!(repo.err().starts_with("keys.txt: holds no age identity"));
}

#[test]
fn wrong_identity_names_the_file_what_was_tried_and_the_recipients() {
    let repo = Repo::new("");
    let other = x25519::Identity::generate();
    let (_dir, ssh_public, _) = ssh_key("ed25519", None);
    repo.write(
        "environments/test/secrets.cfg.age",
        &encrypt(
            b"[component:a]\n",
            &[&other.to_public().to_string(), &ssh_public],
        )
        .unwrap(),
    );
    let err = repo.err();
    assert!(
        err.starts_with(
            "environments/test/secrets.cfg.age: none of the age identities can decrypt it; it is encrypted to 2 recipients (an age key (`age1…`), an ssh-ed25519 key with tag "
        ),
        "{err}"
    );
    assert!(
        err.contains(&format!("tried `keys.txt` ({PUBLIC})")),
        "{err}"
    );
    assert!(err.contains("berth secrets add KEY"), "{err}");
    repo.write(
        "environments/test/secrets.recipients",
        format!("# ops\n{}\n{ssh_public}\n", other.to_public()).as_bytes(),
    );
    let err = repo.err();
    let b64 = ssh_public.split_whitespace().nth(1).unwrap();
    let short = &b64[b64.len() - 16..];
    assert!(
        err.contains(&format!(
            "(an age key (`age1…`), `ssh-ed25519 …{short} test@berth`)"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "its listed recipients are {}, {ssh_public}; use the identity of one of them",
            other.to_public()
        )),
        "{err}"
    );
    assert!(err.contains("none of your keys is among them"), "{err}");
}

/// A fresh SSH key made by `ssh-keygen`: its folder, public key line and
/// private key path.
fn ssh_key(kind: &str, passphrase: Option<&str>) -> (tempfile::TempDir, String, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join(format!("id_{kind}"));
    let mut cmd = std::process::Command::new("ssh-keygen");
    cmd.args([
        "-q",
        "-t",
        kind,
        "-C",
        "test@berth",
        "-N",
        passphrase.unwrap_or(""),
        "-f",
    ])
    .arg(&key);
    if kind == "rsa" {
        cmd.args(["-b", "2048"]);
    }
    let out = cmd.output().expect("ssh-keygen runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    (dir, public.trim().to_owned(), key)
}

#[test]
fn ssh_keys_are_recipients_and_identities() {
    for kind in ["ed25519", "rsa"] {
        let repo = Repo::new("");
        let (_dir, public, private) = ssh_key(kind, None);
        repo.write(
            "environments/test/secrets.cfg.age",
            &encrypt(b"[app]\npassword = p4ss\n", &[&public]).unwrap(),
        );
        let env = berth_config::load(repo.dir.path(), "test").unwrap();
        let secrets = read(&env, &IdentitySources::only(vec![private.clone()]))
            .unwrap()
            .unwrap();
        assert_eq!(
            secrets.components["app"].attributes["password"].value,
            "p4ss"
        );
        assert_eq!(
            recipients(&private).unwrap(),
            [public
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")]
        );
        // The user's SSH keys come after the default age file.
        let sources = IdentitySources {
            default: Some(repo.path("keys.txt")),
            ssh: vec![repo.path("nowhere"), private.clone()],
            ..IdentitySources::default()
        };
        assert!(read(&env, &sources).unwrap().is_some(), "{kind}");
    }
}

#[test]
fn a_passphrase_protected_ssh_key_without_a_terminal_says_so() {
    let repo = Repo::new("");
    let (_dir, public, private) = ssh_key("ed25519", Some("correct horse"));
    repo.write(
        "environments/test/secrets.cfg.age",
        &encrypt(b"[app]\nx = 1\n", &[&public]).unwrap(),
    );
    let env = berth_config::load(repo.dir.path(), "test").unwrap();
    // Tests run without a terminal: the prompt cannot be shown.
    if std::fs::File::open("/dev/tty").is_ok() {
        return;
    }
    let err = read(&env, &IdentitySources::only(vec![private.clone()]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is protected by a passphrase, and it cannot be asked for"),
        "{err}"
    );
    assert!(err.starts_with(&private.display().to_string()), "{err}");
    // A key that no stanza is for is not unlocked: no prompt at all.
    repo.secrets("[app]\nx = 1\n");
    let sources = IdentitySources::only(vec![repo.path("keys.txt"), private]);
    assert!(read(&env, &sources).unwrap().is_some());
}

#[test]
fn a_batou_project_loads_unchanged() {
    let repo = Repo::new("[hosts]\nweb = app\n\n[host:web]\ndata-role = frontend\n");
    repo.secrets(&format!(
        "[batou]\nmembers = {PUBLIC}\nsecret_provider = age\n\n[host:web]\ndata-db-password = hostpw\n\n[app]\npassword = apppw\n"
    ));
    repo.write(
        "environments/test/secret-tls.key.age",
        &encrypt(b"-----BEGIN KEY-----\nAAAAsecretline\n", &[PUBLIC]).unwrap(),
    );
    let env = load(
        repo.dir.path(),
        "test",
        &IdentitySources::only(vec![repo.path("keys.txt")]),
    )
    .unwrap();
    let secrets = env.secrets.as_ref().unwrap();
    assert_eq!(
        secrets.components["app"].attributes["password"].value,
        "apppw"
    );
    assert_eq!(secrets.hosts["web"]["db-password"].value, "hostpw");
    // Host data from secrets stays with the secrets (the engine adds it to
    // the host's), so the environment's `Debug` cannot show it.
    assert!(!env.hosts[0].data.contains_key("db-password"));
    assert_eq!(
        &*secrets.files["tls.key"].content,
        b"-----BEGIN KEY-----\nAAAAsecretline\n"
    );
    let debug = format!("{env:?}");
    for value in ["hostpw", "apppw", "AAAAsecretline"] {
        assert!(!debug.contains(value), "{debug}");
    }
    let mask = Mask::of(secrets);
    assert_eq!(
        mask.text("hostpw apppw AAAAsecretline"),
        "******** ******** ********"
    );
    // The members are the recipients.
    let text = decrypt_file(
        &secrets.file,
        &IdentitySources::only(vec![repo.path("keys.txt")]),
    )
    .unwrap()
    .unwrap();
    let plain = format::parse(&secrets.file, std::str::from_utf8(&text).unwrap()).unwrap();
    let (list, source) = recipients_of(&secrets.file, Some(&plain)).unwrap();
    assert_eq!(list, [PUBLIC]);
    assert!(
        source.starts_with("[batou] members (environments/test/secrets.cfg.age:2)")
            || source.contains("secrets.cfg.age:2"),
        "{source}"
    );
}

#[test]
fn host_data_in_both_places_or_for_no_host_is_an_error() {
    let repo = Repo::new("[hosts]\nweb = app\n\n[host:web]\ndata-role = x\n");
    repo.secrets("[host:web]\ndata-role = y\n");
    assert!(
        repo.err().starts_with("environments/test/secrets.cfg.age:2: host data `data-role` of host `web` is set both in secrets and in the environment"),
        "{}",
        repo.err()
    );
    repo.secrets("[host:wbe]\ndata-role = y\n");
    let err = repo.err();
    assert!(
        err.contains("`[host:wbe]` in secrets: the environment has no host `wbe`"),
        "{err}"
    );
    assert!(err.contains("did you mean `web`?"), "{err}");
}

#[test]
fn gpg_files_are_refused_with_the_conversion_line() {
    let repo = Repo::new("");
    repo.write("environments/test/secrets.cfg.gpg", b"\x85\x01\x0c");
    let err = repo.err();
    assert_eq!(
        err,
        "environments/test/secrets.cfg.gpg: is encrypted with GPG; berth reads age-encrypted secrets\n  hint: convert it once: `berth secrets migrate ENV`, or by hand `gpg -d environments/test/secrets.cfg.gpg | age -R environments/test/secrets.recipients -o environments/test/secrets.cfg.age` (list your age or SSH public keys in `environments/test/secrets.recipients` first), then delete the GPG file"
    );
    std::fs::remove_file(repo.path("environments/test/secrets.cfg.gpg")).unwrap();
    repo.write(
        "environments/test/secret-key.gpg",
        b"-----BEGIN PGP MESSAGE-----\n",
    );
    assert!(
        repo.err()
            .starts_with("environments/test/secret-key.gpg: is encrypted with GPG")
    );
    std::fs::remove_file(repo.path("environments/test/secret-key.gpg")).unwrap();
    repo.write(
        "environments/test/secrets.cfg.age",
        b"-----BEGIN PGP MESSAGE-----\n",
    );
    assert!(
        repo.err()
            .starts_with("environments/test/secrets.cfg.age: is encrypted with GPG")
    );
}

#[test]
fn scope_keeps_what_a_host_uses() {
    let repo = Repo::new("[hosts]\nweb = app\ndb = database\n");
    repo.secrets(
        "[host:web]\ndata-w = 1\n[host:db]\ndata-d = 2\n[app]\na = 1\n[database]\nd = 2\n",
    );
    repo.write(
        "environments/test/secret-tls.age",
        &encrypt(b"tls", &[PUBLIC]).unwrap(),
    );
    repo.write(
        "environments/test/secret-dump.age",
        &encrypt(b"dump", &[PUBLIC]).unwrap(),
    );
    let secrets = repo.read().unwrap().unwrap();
    let uses = Uses {
        host: "web".into(),
        components: ["app".to_owned()].into(),
        files: ["tls".to_owned()].into(),
    };
    let web = scope(&secrets, &uses);
    assert_eq!(web.components.keys().collect::<Vec<_>>(), ["app"]);
    assert_eq!(web.hosts.keys().collect::<Vec<_>>(), ["web"]);
    assert_eq!(web.files.keys().collect::<Vec<_>>(), ["tls"]);
    let mask = Mask::of(&web);
    assert!(mask.holds(b"tls") && !mask.holds(b"dump"));
}

#[test]
fn damaged_and_passphrase_files() {
    let repo = Repo::new("");
    repo.write("environments/test/secrets.cfg.age", b"[component:a]\n");
    let err = repo.err();
    assert!(
        err.contains("secrets.cfg.age: not an age file, or a damaged one"),
        "{err}"
    );
    let mut bytes = encrypt(b"[component:a]\nx = 1\n", &[PUBLIC]).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    repo.write("environments/test/secrets.cfg.age", &bytes);
    let err = repo.err();
    assert!(err.contains("secrets.cfg.age: cannot decrypt"), "{err}");
    assert!(err.contains("hint: restore it"), "{err}");
    let encryptor = age::Encryptor::with_user_passphrase("pw".to_owned().into());
    let mut out = Vec::new();
    let mut w = encryptor.wrap_output(&mut out).unwrap();
    w.write_all(b"[component:a]\n").unwrap();
    w.finish().unwrap();
    repo.write("environments/test/secrets.cfg.age", &out);
    assert!(repo.err().contains("is encrypted with a passphrase"));
}

#[test]
fn encrypt_refuses_bad_recipients() {
    assert!(encrypt(b"x", &[]).unwrap_err().contains("cannot encrypt"));
    assert!(
        encrypt(b"x", &["ssh-ed25519 AAAA"])
            .unwrap_err()
            .contains("is not an SSH key age can encrypt to")
    );
    assert!(
        encrypt(b"x", &["alice@example.com"])
            .unwrap_err()
            .contains("is not an age recipient")
    );
}
