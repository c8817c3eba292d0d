//! The `.dockerignore` matcher: any pattern file parses or is refused, and matching any path
//! against it terminates without a panic (patterns are attacker-controlled in a build context).
#![no_main]

use depot_build::dockerignore::DockerIgnore;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let (patterns, paths) = text.split_once('\0').unwrap_or((text, "a/b/c"));
    let Ok(ignore) = DockerIgnore::parse(patterns) else {
        return;
    };
    for path in paths.split('\n') {
        let _ = ignore.matches(path);
        let _ = ignore.may_include_below(path);
        let _ = ignore.may_match_below(path);
    }
});
