//! Hostile and broken input: each case gets a clear diagnostic (exit 1) or an
//! environment error (exit 2), never a panic, a hang or a stack overflow.

mod support;

use support::TempRepo;

fn assert_reports(repo: &TempRepo, code: &str, exit: i32) -> String {
    let run = repo.modelops(&["check"]);
    assert!(!run.stderr.contains("panicked"), "panic:\n{}", run.stderr);
    assert_eq!(run.code, exit, "stderr:\n{}", run.stderr);
    assert!(
        run.stderr.contains(code),
        "expected {code}:\n{}",
        run.stderr
    );
    run.stderr
}

#[test]
fn truncated_model_file() {
    let repo = TempRepo::new();
    repo.write(
        "models/assistant.kdl",
        "model \"assistant\" {\n    release \"1.0.0\" {\n        base \"openai/gpt-4o-2",
    );
    assert_reports(&repo, "MO101", 1);
}

#[test]
fn binary_model_file() {
    let repo = TempRepo::new();
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    repo.write("models/assistant.kdl", bytes);
    let stderr = assert_reports(&repo, "MO102", 1);
    assert!(stderr.contains("models/assistant.kdl"), "{stderr}");
}

#[test]
fn nul_bytes_in_a_valid_looking_file() {
    let repo = TempRepo::new();
    repo.write("modelops.kdl", "project \"t\"\0\nenvironment \"prod\"\n");
    let stderr = assert_reports(&repo, "MO102", 1);
    assert!(stderr.contains("modelops.kdl:1:12"), "{stderr}");
}

#[test]
fn invalid_utf8_prompt() {
    let repo = TempRepo::new();
    repo.write("prompts/assistant/v1.md", b"Hello \xff\xfe world\n");
    let stderr = assert_reports(&repo, "MO102", 1);
    assert!(stderr.contains("prompts/assistant/v1.md:1:7"), "{stderr}");
}

#[test]
fn directory_where_a_prompt_file_should_be() {
    let repo = TempRepo::new();
    repo.remove("prompts/assistant/v1.md");
    repo.write("prompts/assistant/v1.md/notes.txt", "not a prompt");
    assert_reports(&repo, "MO208", 1);
}

#[test]
fn a_twenty_megabyte_model_file() {
    let repo = TempRepo::new();
    let mut text = String::from("model \"assistant\" {\n");
    while text.len() < 20 * 1024 * 1024 {
        text.push_str("    // padding padding padding padding padding padding padding padding\n");
    }
    text.push_str("}\n");
    repo.write("models/assistant.kdl", text);
    let stderr = assert_reports(&repo, "MO103", 1);
    assert!(stderr.contains("more than the 1048576 bytes"), "{stderr}");
}

#[test]
fn three_thousand_levels_of_nesting() {
    let repo = TempRepo::new();
    let deep = "a {\n".repeat(3000) + &"}\n".repeat(3000);
    repo.write("models/assistant.kdl", deep);
    assert_reports(&repo, "MO104", 1);
}

#[test]
fn empty_project_file() {
    let repo = TempRepo::new();
    repo.write("modelops.kdl", "");
    let stderr = assert_reports(&repo, "MO108", 1);
    assert!(stderr.contains("missing `project`"), "{stderr}");
}

#[test]
fn missing_project_file_is_exit_two() {
    let repo = TempRepo::new();
    repo.remove("modelops.kdl");
    let run = repo.modelops(&["-C", "models", "check"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[cfg(unix)]
#[test]
fn prompt_symlink_pointing_outside_the_repository() {
    let repo = TempRepo::new();
    let outside = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(outside.path(), "secret text outside the repository\n").unwrap();
    repo.remove("prompts/assistant/v1.md");
    std::os::unix::fs::symlink(outside.path(), repo.path().join("prompts/assistant/v1.md"))
        .unwrap();
    let stderr = assert_reports(&repo, "MO207", 1);
    assert!(!stderr.contains("secret text"), "{stderr}");
}

/// A named pipe where a prompt file should be is reported, not waited on: reading it
/// would block until something writes to it.
#[cfg(unix)]
#[test]
fn a_named_pipe_is_not_a_file() {
    let repo = TempRepo::new();
    repo.remove("prompts/assistant/v1.md");
    let made = std::process::Command::new("mkfifo")
        .arg(repo.path().join("prompts/assistant/v1.md"))
        .status()
        .unwrap();
    assert!(made.success());
    assert_reports(&repo, "MO208", 1);
}

#[cfg(unix)]
#[test]
fn dataset_symlink_pointing_outside_the_repository() {
    let repo = TempRepo::new();
    std::fs::create_dir_all(repo.path().join("datasets")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", repo.path().join("datasets/golden.jsonl")).unwrap();
    let model = std::fs::read_to_string(repo.path().join("models/assistant.kdl")).unwrap();
    repo.write(
        "models/assistant.kdl",
        model.replace(
            "        stable \"1.0.0\"\n",
            "        stable \"1.0.0\"\n        gate \"eval\" {\n            run \"true\"\n            dataset \"datasets/golden.jsonl\"\n            metric \"score\"\n        }\n",
        ),
    );
    assert_reports(&repo, "MO207", 1);
}

#[cfg(unix)]
#[test]
fn symlink_inside_the_repository_is_followed() {
    let repo = TempRepo::new();
    repo.write("shared/base.md", "You are a helpful assistant.\n");
    repo.remove("prompts/assistant/v1.md");
    std::os::unix::fs::symlink(
        "../../shared/base.md",
        repo.path().join("prompts/assistant/v1.md"),
    )
    .unwrap();
    let run = repo.modelops(&["check"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// Each shape the KDL parser recurses on, a few kilobytes of it: a diagnostic naming
/// the file, never a stack overflow (exit 134).
#[test]
fn recursion_in_every_shape_the_parser_recurses_on() {
    let braces = "{".repeat(5000);
    let cases = [
        ("nested block comments", "/*".repeat(20_000)),
        ("a slashdash chain", "/- ".repeat(5000) + "a"),
        (
            "slashdashes without spaces",
            format!("a {}{{}}", "/-/-".repeat(3000)),
        ),
        (
            "slashdashed annotations",
            format!("a {}b", "/-(t)".repeat(5000)),
        ),
        ("line continuations", format!("a {}b", "\\ ".repeat(5000))),
        (
            "an unclosed multi-line string",
            format!("a \"\"\"\n{braces}"),
        ),
        ("an unclosed raw string", format!("a #\"\n{braces}")),
        ("an unclosed string", format!("a \"\n{braces}")),
        (
            "an unclosed comment",
            format!("a {{\n{}/*{braces}", "b {\n".repeat(30)),
        ),
    ];
    for (what, text) in cases {
        let repo = TempRepo::new();
        repo.write("models/assistant.kdl", &text);
        let run = repo.modelops(&["check"]);
        assert_eq!(run.code, 1, "{what}: exit {}\n{}", run.code, run.stderr);
        assert!(
            run.stderr.contains("MO104") && run.stderr.contains("models/assistant.kdl"),
            "{what}:\n{}",
            run.stderr
        );
    }
}

/// Template blocks nested twenty thousand deep in a prompt: a diagnostic, not a
/// stack overflow in handlebars' parser or renderer.
#[test]
fn deeply_nested_template_blocks() {
    let repo = TempRepo::new();
    let text = "{{#if product}}".repeat(20_000) + "x" + &"{{/if}}".repeat(20_000);
    repo.write("prompts/assistant/v1.md", text);
    for command in [&["check"][..], &["compile", "--check"]] {
        let run = repo.modelops(command);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        assert_eq!(run.code, 1, "{command:?}:\n{}", run.stderr);
        assert!(run.stderr.contains("nested more than 32"), "{}", run.stderr);
    }
}

/// A finding past column 65,535 of one line: the report shows a window of the line
/// and keeps the exact location.
#[test]
fn a_finding_at_the_end_of_a_very_long_line() {
    let repo = TempRepo::new();
    let text = "x".repeat(70_000) + "{{#if}}\n";
    repo.write("prompts/assistant/v1.md", &text);
    let run = repo.modelops(&["check"]);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("prompts/assistant/v1.md:1:70001]"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("…"), "{}", run.stderr);
    assert!(run.stderr.len() < 8 * 1024, "{} bytes", run.stderr.len());
}

/// Nothing a user wrote reaches the terminal or a CI log as an escape sequence or a
/// GitHub workflow command: not in the report of a bad prompt, nor in its snippet.
#[test]
fn user_text_cannot_drive_the_terminal_or_the_runner() {
    let repo = TempRepo::new();
    // The label is on line 2: the snippet shows lines 1 to 3.
    let text = "Hello\u{1b}]0;owned\u{7}\n{{#if}} ##[error]x\n  ::stop-commands::t\n";
    repo.write("prompts/assistant/v1.md", text);
    for format in ["human", "github", "json", "sarif"] {
        let run = repo.modelops(&["check", "--format", format]);
        assert_eq!(run.code, 1, "{format}: {}", run.stderr);
        for output in [&run.stdout, &run.stderr] {
            assert!(!output.contains('\u{1b}'), "{format}: escape in\n{output}");
            assert!(!output.contains("##["), "{format}: ##[ in\n{output}");
            for line in output.lines() {
                let line = line.trim_start();
                let ours = format == "github"
                    && (line.starts_with("::error ") || line.starts_with("::warning "));
                assert!(ours || !line.starts_with("::"), "{format}: {line}");
            }
        }
    }
}

/// Long chains — releases inheriting `from=` one another, environments promoted
/// `after` one another, each four thousand long, forwards and backwards, and closed
/// into cycles — are judged in linear time. (The walks along them took time that grew
/// with the cube of the chain: minutes at this length.) The bound below is a guard
/// against that class, far above what the run takes.
#[test]
fn long_inheritance_and_promotion_chains() {
    const N: usize = 4000;
    let repo = TempRepo::new();
    let mut project = String::from("project \"t\"\nenvironment \"e0\" namespace=\"e0\"\n");
    for i in 1..N {
        // Written in reverse: each environment is promoted after the one above it.
        project.push_str(&format!(
            "environment \"e{i}\" namespace=\"e{i}\" {{\n    after \"e{}\"\n}}\n",
            i - 1
        ));
    }
    project.push_str("environment \"c0\" namespace=\"c0\" {\n    after \"c1\"\n}\n");
    project.push_str("environment \"c1\" namespace=\"c1\" {\n    after \"c0\"\n}\n");
    repo.write("modelops.kdl", &project);
    let mut model = String::from(
        "model \"assistant\" {\n    release \"1.0.0\" {\n        base \"openai/gpt-4o-2024-08-06\"\n        image \"ghcr.io/acme/gateway@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"\n        prompt \"assistant\" version=1\n    }\n",
    );
    for i in (1..N).rev() {
        model.push_str(&format!(
            "    release \"1.0.{i}\" from=\"1.0.{}\" {{\n        params {{\n            temperature 0.{}\n        }}\n    }}\n",
            i - 1,
            i % 10
        ));
    }
    model.push_str("    release \"9.0.1\" from=\"9.0.2\" {\n    }\n    release \"9.0.2\" from=\"9.0.1\" {\n    }\n");
    model.push_str(&format!(
        "    deploy \"e{}\" {{\n        stable \"1.0.{}\"\n    }}\n}}\n",
        N - 1,
        N - 1
    ));
    repo.write("models/assistant.kdl", &model);
    let started = std::time::Instant::now();
    let run = repo.modelops(&["check", "--format", "json"]);
    let took = started.elapsed();
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let messages: Vec<&str> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["message"].as_str())
        .collect();
    assert!(
        messages.contains(&"the promotion order is a cycle: `c0` → `c1` → `c0`"),
        "{:?}",
        messages.get(..20)
    );
    assert!(
        messages.contains(
            &"releases of `assistant` inherit in a cycle: \"9.0.1\" → \"9.0.2\" → \"9.0.1\""
        ),
        "{:?}",
        messages.get(..20)
    );
    assert!(took < std::time::Duration::from_secs(30), "took {took:?}");
}

/// A checkout with CRLF line endings (git's `core.autocrlf` on Windows) of an
/// unchanged repository: the same prompts, the same hashes, nothing to report.
#[test]
fn a_crlf_checkout_of_an_unchanged_repository_passes() {
    let repo = support::copy_example();
    let mut files = vec![repo.path().join("modelops.kdl")];
    for folder in ["models", "prompts"] {
        for entry in walkdir::WalkDir::new(repo.path().join(folder)) {
            let entry = entry.unwrap();
            if entry.file_type().is_file() {
                files.push(entry.path().to_owned());
            }
        }
    }
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, text.replace('\n', "\r\n")).unwrap();
    }
    for command in [&["check"][..], &["lock", "--check"]] {
        let run = support::modelops_in(repo.path(), command);
        assert_eq!(run.code, 0, "{command:?}:\n{}", run.stderr);
    }
}

/// A model file, a prompt folder and a prompt file whose names are not UTF-8 are
/// reported, not silently left out of the run.
#[cfg(unix)]
#[test]
fn files_whose_names_are_not_utf8_are_reported() {
    use std::os::unix::ffi::OsStrExt;
    let repo = TempRepo::new();
    let name = |bytes: &[u8]| std::ffi::OsStr::from_bytes(bytes).to_owned();
    std::fs::write(
        repo.path().join("models").join(name(b"bot\xff.kdl")),
        "model \"bot\" {\n}\n",
    )
    .unwrap();
    std::fs::create_dir(repo.path().join("prompts").join(name(b"p\xfe"))).unwrap();
    std::fs::write(
        repo.path()
            .join("prompts/assistant")
            .join(name(b"v2\xfd.md")),
        "x",
    )
    .unwrap();
    let stderr = assert_reports(&repo, "MO102", 1);
    for shown in [
        "models/bot\u{fffd}.kdl",
        "prompts/p\u{fffd}",
        "prompts/assistant/v2\u{fffd}.md",
    ] {
        assert!(stderr.contains(shown), "{shown}:\n{stderr}");
    }
}

/// The credential scan judges what values decode to: a key behind KDL escapes or a
/// line continuation is found; `sk-learn-…` words are not keys; PGP, OpenSSH and
/// PKCS#8 private key blocks in a prompt are found.
#[test]
fn credentials_are_found_in_decoded_values_and_lookalikes_are_not() {
    let key = "sk-proj-oHfaIoHObCfujyTUalnuejmuuQaSAB";
    let escaped = key.replacen('s', "\\u{73}", 1);
    let continued = format!("{}\\\n        {}", &key[..12], &key[12..]);
    for hidden in [escaped, continued] {
        let repo = TempRepo::new();
        let model = std::fs::read_to_string(repo.path().join("models/assistant.kdl")).unwrap();
        repo.write(
            "models/assistant.kdl",
            model.replacen(
                "model \"assistant\" {\n",
                &format!("model \"assistant\" {{\n    description \"{hidden}\"\n"),
                1,
            ),
        );
        let stderr = assert_reports(&repo, "MO801", 1);
        assert!(
            stderr.contains("decodes to what looks like an OpenAI API key"),
            "{stderr}"
        );
        assert!(
            !stderr.contains(&key[12..]),
            "the key is redacted:\n{stderr}"
        );
    }
    // Split across two variables, joined by the prompt: only the rendering shows it.
    let repo = TempRepo::new();
    let model = std::fs::read_to_string(repo.path().join("models/assistant.kdl")).unwrap();
    repo.write(
        "models/assistant.kdl",
        model.replacen(
            "        prompt \"assistant\" version=1\n",
            &format!("        prompt \"assistant\" version=1\n        vars {{\n            a \"{}\"\n            b \"{}\"\n        }}\n", &key[..16], &key[16..]),
            1,
        ),
    );
    repo.write(
        "prompts/assistant/v1.md",
        "Use {{a}}{{b}} to call the API.\n",
    );
    let stderr = assert_reports(&repo, "MO801", 1);
    assert!(
        stderr.contains("renders what looks like an OpenAI API key"),
        "{stderr}"
    );
    let repo = TempRepo::new();
    let model = std::fs::read_to_string(repo.path().join("models/assistant.kdl")).unwrap();
    repo.write(
        "models/assistant.kdl",
        model.replacen("model \"assistant\" {\n", "model \"assistant\" {\n    description \"built on sk-learn-pipeline-classification-2024\"\n", 1),
    );
    let run = repo.modelops(&["check"]);
    assert!(!run.stderr.contains("MO801"), "{}", run.stderr);
    for block in [
        "PGP PRIVATE KEY BLOCK",
        "OPENSSH PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
    ] {
        let repo = TempRepo::new();
        repo.write(
            "prompts/assistant/v1.md",
            format!(
                "Hello.\n-----BEGIN {block}-----\nAAAAB3NzaC1yc2EAAAADAQAB\n-----END {block}-----\n"
            ),
        );
        assert_reports(&repo, "MO801", 1);
    }
}
