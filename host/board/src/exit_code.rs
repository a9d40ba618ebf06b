//! Exit codes of the board commands (`deploy`, `bench`, `image`, `flash`, `board`) and of
//! finding the runtime. Scripts rely on these numbers; they are listed in
//! `deepiot deploy --help`, in `docs/image-format.md` and in the README. Do not renumber.
//! A leaf module, so that the board workflow and the runtime build both use it.

/// Something not covered below (a bug, an I/O error on the host).
pub const OTHER: u8 = 1;
/// Bad command line (clap uses 2 as well).
pub const USAGE: u8 = 2;
/// A local file (model, image, runtime, target description) is missing or corrupt.
pub const BAD_INPUT: u8 = 3;
/// Building the board runtime failed.
pub const BUILD: u8 = 4;
/// No board runtime can be had: its Rust target is missing and rustup is not there to
/// add it, or the sources are gone and no runtime is cached (`--runtime` fixes both).
pub const RUNTIME_UNAVAILABLE: u8 = 5;
/// The board cannot be reached (name does not resolve, refused, timed out).
pub const UNREACHABLE: u8 = 10;
/// The board refused our key (or the agent has none it accepts).
pub const AUTH: u8 = 11;
/// The board's host key is unknown or changed: ssh refused to talk to it.
pub const HOST_KEY: u8 = 12;
/// `uname -m` on the board is not an architecture of the target.
pub const WRONG_ARCH: u8 = 13;
/// Not enough space on the board's file system.
pub const DISK_FULL: u8 = 14;
/// The connection dropped in the middle of a transfer or a step.
pub const CONNECTION_LOST: u8 = 15;
/// What arrived on the board does not have the sha256 that was sent.
pub const CORRUPT_TRANSFER: u8 = 16;
/// The new version failed its self-test (or smoke test) on the board.
pub const SELF_TEST: u8 = 17;
/// A command on the board failed (runtime error, unexpected board state).
pub const BOARD_COMMAND: u8 = 18;
/// `bench --boards`: at least one board of the inventory failed.
pub const SOME_BOARDS_FAILED: u8 = 19;
