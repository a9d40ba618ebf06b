//! Every command that runs on the board, in one place.
//!
//! The board is a small Yocto Linux with busybox: the scripts use only POSIX `sh` and
//! `mkdir`, `mv`, `ln`, `rm`, `cat`, `chmod`, `sha256sum`, `df`, `uname` and `test` (and
//! `date`, where its absence only leaves a time out).
//! Each script starts with `NAME='value'` assignments made by [`render`] (values are
//! shell-quoted), so the templates below read as plain shell.
//!
//! Layout under the install directory `$D`:
//!
//! ```text
//! $D/active -> slots/a        symlink; switched by renaming a new link over it
//! $D/slots/a/  $D/slots/b/    two complete installs (the active one and the previous)
//!     SLOT                    "a" or "b"
//!     INFO                    key=value: version, source, target, hashes, time
//!     SHA256SUMS              `sha256sum -c` list of every file in the slot
//!     deepiot-run             the runtime
//!     models/NAME.safetensors
//!     manifest.json, selftest/   (installs from an image)
//! $D/staging/SHA256           verified uploads, named by content; SHA256.c/NNNNN are the
//!                             verified pieces of a large file (a cut transfer resumes)
//! $D/status                   key=value: the last operation and its result
//! $D/switching                "S PREV" while a switch to slot S is not yet checked
//! ```
//!
//! A session can die at any step (a killed shell, a dropped connection, a power cut).
//! Before the switch the active slot is untouched. The switch itself is one rename.
//! Between the switch and its check, `switching` records what was going on, and the next
//! session, whatever the command (even `board status`), settles it first ([`SETTLE`]):
//! it checks the active slot and keeps it, or switches back to the previous one, and
//! says which and why in `status`.
//!
//! Exit codes of the scripts (the host maps them to its own, see `error.rs`):
//! 0 ok, 41 cannot write (usually disk full; stderr says), 42 sha256 mismatch,
//! 43 a file is missing on the board, 44 unexpected board state, 45 the new version does
//! not run (smoke test), 46 the switched pointer does not work (rolled back).
use super::ssh::quote;

pub const EXIT_WRITE: i32 = 41;
pub const EXIT_MISMATCH: i32 = 42;
pub const EXIT_MISSING: i32 = 43;
pub const EXIT_STATE: i32 = 44;
pub const EXIT_SMOKE: i32 = 45;
pub const EXIT_ROLLED_BACK: i32 = 46;

/// Prefixes `template` with shell assignments of `vars`.
pub fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let mut s = String::from("set -u\n");
    for (k, v) in vars {
        debug_assert!(k.chars().all(|c| c.is_ascii_uppercase() || c == '_'));
        s.push_str(&format!("{k}={}\n", quote(v)));
    }
    s.push_str(template);
    s
}

/// Looks at the board: architecture, free space, slots, staged uploads, last status.
/// Stops before changing anything if `uname -m` is not one of `$ARCHES`; with `LOOK=1`
/// it only looks (no architecture check, creates nothing; the one change it may make is
/// to settle an interrupted switch, [`SETTLE`]). With
/// `PREPARE=1` (deploy, flash) it then readies the inactive slot's place: files whose
/// sha256 is in `$WANT` are hard-linked from either slot into staging (so they need no
/// upload), and the inactive slot is removed to make room.
pub const PROBE: &str = r#"
arch=$(uname -m)
echo "@arch $arch"
for t in cat mv ln rm mkdir chmod sha256sum df; do
  command -v "$t" > /dev/null 2>&1 || echo "@missing $t"
done
if test "$LOOK" != 1; then
  case " $ARCHES " in *" $arch "*) ;; *) exit 0 ;; esac
  mkdir -p "$D/staging" "$D/slots" || exit 41
fi
cd "$D" 2>/dev/null || { echo "@nodir"; exit 0; }
# A pointer switch cut between `rm active` and `mv` by an older deepiot (its fallback for
# a `mv` without -T): finish it.
if ! test -e active && test -L active.new; then mv active.new active; fi
@@SETTLE@@
active=
if test -f active/SLOT; then active=$(cat active/SLOT); fi
echo "@active $active"
if test "$PREPARE" = 1; then
  rm -rf slots/a.new slots/b.new staging/*.part staging/*.c/*.part
  for s in a b; do
    test -f "slots/$s/SHA256SUMS" || continue
    while read -r sum path; do
      case " $WANT " in
        *" $sum "*) test -f "staging/$sum" || ln "slots/$s/$path" "staging/$sum" 2>/dev/null ;;
      esac
    done < "slots/$s/SHA256SUMS"
  done
  for s in a b; do
    if test "$s" != "$active"; then rm -rf "slots/$s"; fi
  done
fi
echo "@df"
df -k -P "$D" 2>/dev/null || df -k "$D"
echo "@end"
for s in a b; do
  if test -f "slots/$s/INFO"; then echo "@info $s"; cat "slots/$s/INFO"; echo "@end"; fi
  if test -f "slots/$s/SHA256SUMS"; then echo "@sums $s"; cat "slots/$s/SHA256SUMS"; echo "@end"; fi
done
for f in staging/* staging/*.c/*; do
  case "$f" in *'*'*|*.part) ;; *) test -f "$f" && echo "@staged ${f#staging/}" ;; esac
done
if test -f status; then echo "@status"; cat status; echo "@end"; fi
exit 0
"#;

/// Receives one file or one piece on standard input into `$D/staging/$P`, keeping it
/// only if its sha256 is `$H`. (The marker comment lets test wrappers spot uploads.)
pub const UPLOAD: &str = r#"
# deepiot-upload
T="$D/staging/$P"
mkdir -p "${T%/*}" || exit 41
rm -f "$T.part"
if ! cat > "$T.part"; then rm -f "$T.part"; exit 41; fi
set -- $(sha256sum "$T.part")
if test "$1" != "$H"; then
  echo "the board computed sha256 $1" >&2
  rm -f "$T.part"
  exit 42
fi
mv -f "$T.part" "$T" || exit 41
"#;

/// Joins the verified pieces `$D/staging/$F.c/*` into `$D/staging/$F` and checks the
/// whole file's sha256 (`$F` is it). Appended to the upload of a file's last piece.
pub const JOIN: &str = r#"
J="$D/staging/$F"
cat "$J.c"/* > "$J.part" || { rm -f "$J.part"; exit 41; }
set -- $(sha256sum "$J.part")
if test "$1" != "$F"; then
  echo "the joined file has sha256 $1" >&2
  rm -rf "$J.part" "$J.c"
  exit 42
fi
mv -f "$J.part" "$J" && rm -rf "$J.c"
"#;

/// Builds slot `$S` from staged files, verifies every file against its sha256, and (for
/// `deploy`) smoke-tests and switches to it. `@@PLACE@@` becomes one `place HASH MODE
/// PATH` line per file, `@@SUMS@@` the slot's SHA256SUMS, `@@INFO@@` its INFO, `@@CHECK@@`
/// the commands that must succeed before the switch, `@@AFTER@@` what follows the
/// verified install (the switch, or nothing when the host checks first).
pub const INSTALL: &str = r#"
cd "$D" || exit 44
N="slots/$S.new"
rm -rf "$N" || exit 44
mkdir -p "$N" || exit 41
place() {
  src="staging/$1"
  if ! test -f "$src" && test -d "$src.c"; then
    cat "$src.c"/* > "$src.part" || { rm -f "$src.part"; rm -rf "$N"; exit 41; }
    mv -f "$src.part" "$src" && rm -rf "$src.c"
  fi
  if ! test -f "$src"; then echo "$3 (sha256 $1) is not on the board" >&2; rm -rf "$N"; exit 43; fi
  case "$3" in */*) mkdir -p "$N/${3%/*}" || { rm -rf "$N"; exit 41; } ;; esac
  ln "$src" "$N/$3" 2>/dev/null || cat "$src" > "$N/$3" || { rm -rf "$N"; exit 41; }
  if test "$2" = x; then chmod 755 "$N/$3" || { rm -rf "$N"; exit 41; }; fi
}
@@PLACE@@
{ cat > "$N/SHA256SUMS" <<'DEEPIOT_EOF'
@@SUMS@@
DEEPIOT_EOF
} || { rm -rf "$N"; exit 41; }
{ cat > "$N/INFO" <<'DEEPIOT_EOF'
@@INFO@@
DEEPIOT_EOF
} || { rm -rf "$N"; exit 41; }
echo "$S" > "$N/SLOT" || { rm -rf "$N"; exit 41; }
if ! (cd "$N" && sha256sum -c SHA256SUMS >&2); then
  rm -rf "$N"
  exit 42
fi
rm -rf "slots/$S" && mv "$N" "slots/$S" || exit 44
R="$D/slots/$S/deepiot-run"
@@CHECK@@
@@AFTER@@
"#;

/// Switches `active` to slot `$S`, checks the runtime runs through the new pointer, and
/// switches back to `$PREV` if it does not. Then records `$STATUS` and clears staging.
///
/// Each switch is one rename(2), done by the runtime itself (`deepiot-run point`): the
/// new slot's runtime to switch to it (a runtime that cannot run leaves `active` as it
/// was), the previous slot's to switch back. No `mv -T` is needed (busybox lacks it), and
/// there is no fallback that removes `active` before replacing it.
pub const SWITCH: &str = r#"
cd "$D" || exit 44
point() {
  "$D/slots/$1/deepiot-run" point active "slots/$1"
}
{ echo "$S $PREV" > switching.tmp && mv -f switching.tmp switching; } || exit 41
point "$S" || { rm -f switching; exit 44; }
if test "$(cat active/SLOT 2>/dev/null)" != "$S" || ! "$D/active/deepiot-run" --version > /dev/null 2>&1; then
  echo "the runtime does not run through the new pointer; switching back" >&2
  if test -n "$PREV" && test -f "slots/$PREV/SLOT"; then point "$PREV"; else rm -f active; fi
  rm -f switching
  exit 46
fi
{ cat > status.tmp <<'DEEPIOT_EOF'
@@STATUS@@
DEEPIOT_EOF
} && mv -f status.tmp status
rm -f switching
rm -rf staging
exit 0
"#;

/// Settles a switch whose session ended between moving the pointer and checking it
/// (`$D/switching` holds `S PREV`): if slot S is active and its runtime runs through the
/// pointer, it stays; otherwise the previous slot's runtime points `active` back at it.
/// The outcome goes to `status` (`op=settle`) and, as `@settled WHAT`, to the host.
/// Runs in the install directory, first thing in every session that looks at the board.
pub const SETTLE: &str = r#"
if test -f switching; then
  read -r sw_new sw_prev < switching || true
  sw_new=${sw_new:-?}
  sw_prev=${sw_prev:-}
  if test "$(cat active/SLOT 2>/dev/null)" = "$sw_new" && "$D/active/deepiot-run" --version > /dev/null 2>&1; then
    sw_result=kept
    sw_what="the switch to slot $sw_new was cut short before its check; checked afterwards, slot $sw_new runs and stays active"
  elif test -n "$sw_prev" && test -f "slots/$sw_prev/SLOT" && "$D/slots/$sw_prev/deepiot-run" point active "slots/$sw_prev"; then
    sw_result=rolled_back
    sw_what="the switch to slot $sw_new was cut short before its check and slot $sw_new does not run through the pointer; slot $sw_prev is active again"
  else
    sw_result=none
    sw_what="the switch to slot $sw_new was cut short, slot $sw_new does not run and there is no previous slot to return to"
  fi
  { echo "op=settle"
    echo "result=$sw_result"
    echo "slot=$(cat active/SLOT 2>/dev/null)"
    echo "at=$(date -u +%Y-%m-%dT%H:%M:%SZ 2>/dev/null)"
    echo "message=$sw_what"
  } > status.tmp && mv -f status.tmp status
  rm -f switching
  echo "@settled $sw_what"
fi
"#;

/// Records the result of a failed operation, and removes a slot that failed its test
/// (`$DROP`, may be empty) unless it is the active one.
///
/// When the operation had in fact finished on the board before its session died (the
/// status already records it, for the slot now active), that status stays. When a switch
/// had to be settled ([`SETTLE`]), the recorded failure says how (`settled=`).
pub const FAILED: &str = r#"
cd "$D" 2>/dev/null || exit 0
@@SETTLE@@
done_ok=; done_slot=
if test -f status; then
  while IFS= read -r line; do
    case "$line" in result=ok) done_ok=1 ;; "slot=$DROP") done_slot=1 ;; esac
  done < status
fi
if test -n "$DROP" && test "$(cat active/SLOT 2>/dev/null)" = "$DROP" && test -z "${sw_what:-}" \
  && test -n "$done_ok" && test -n "$done_slot"; then
  echo "@completed"
  echo "@active_after $DROP"
  exit 0
fi
if test -n "$DROP" && test "$(cat active/SLOT 2>/dev/null)" != "$DROP"; then rm -rf "slots/$DROP" "slots/$DROP.new"; fi
{ cat <<'DEEPIOT_EOF'
@@STATUS@@
DEEPIOT_EOF
  if test -n "${sw_what:-}"; then echo "settled=$sw_what"; fi
  echo "active_after=$(cat active/SLOT 2>/dev/null)"
} > status.tmp && mv -f status.tmp status
echo "@active_after $(cat active/SLOT 2>/dev/null)"
exit 0
"#;

/// Runs `deepiot-run bench` for each model in one session; `@@RUNS@@` becomes one
/// `one INDEX MODEL_PATH` line per model.
pub const BENCH: &str = r#"
cd "$D" || exit 44
test -x "$R" || chmod 755 "$R" || exit 41
one() {
  echo "@bench $1"
  "$R" bench "$2" --iterations "$N" --warmup "$W" --json || echo "@failed $1 $?"
}
@@RUNS@@
exit 0
"#;

/// The self-test of a freshly installed slot: each model on its stored input, JSON out.
/// `@@RUNS@@` becomes one `one NAME MODEL INPUT...` line per model.
pub const SELFTEST_LINES: &str = r#"
one() {
  name=$1; model=$2; shift 2
  args=
  for i in "$@"; do args="$args --input slots/$S/$i"; done
  echo "@selftest $name"
  "$R" "slots/$S/$model" $args --json || echo "@selftest-failed $name $?"
}
"#;

/// A smoke test for `deploy`: the new runtime loads every model (paths relative to the
/// slot; they are checked names, see `plan::check_name`).
pub fn smoke_lines(models: &[String]) -> String {
    let mut s = String::new();
    for m in models {
        let q = quote(m);
        s.push_str(&format!(
            "\"$R\" info \"slots/$S/\"{q} > /dev/null || {{ echo the new runtime cannot load {q} >&2; exit 45; }}\n"
        ));
    }
    s
}

/// Puts a file's text into a here-document body: it must not contain the delimiter.
pub fn heredoc_safe(text: &str) -> String {
    text.lines()
        .filter(|l| l.trim() != "DEEPIOT_EOF")
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_quotes_values() {
        let s = render("echo \"$D\"\n", &[("D", "/tmp/a b"), ("H", "it's")]);
        assert_eq!(s, "set -u\nD='/tmp/a b'\nH='it'\\''s'\necho \"$D\"\n");
    }

    #[test]
    fn heredoc_bodies_cannot_end_early() {
        assert_eq!(heredoc_safe("a=1\nDEEPIOT_EOF\nb=2"), "a=1\nb=2");
    }
}
