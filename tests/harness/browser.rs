//! A real headless Chromium (Debian's `chromium`) looking at the landing page: the DOM it built
//! (`--dump-dom`) and a screenshot, and a small PNG reader to check what it drew. Each run gets
//! a fresh profile directory, runs in a process group of its own bounded by a deadline, and the
//! whole group is killed when it ends (in time or not), so no renderer outlives a test.

use std::fs;
use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::os;

/// How long one Chromium run may take (a cold start in a container takes a few seconds).
pub const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

pub struct Chromium {
    bin: PathBuf,
}

impl Chromium {
    /// `$CHROMIUM`, else /usr/bin/chromium; a missing browser fails the test with the install
    /// hint (never a silent skip).
    pub fn find() -> Chromium {
        let bin = std::env::var_os("CHROMIUM")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
        assert!(
            bin.is_file(),
            "no Chromium at {}: install it (Debian: apt-get install chromium; scripts/deps.sh does) \
             or point CHROMIUM at the binary",
            bin.display()
        );
        Chromium { bin }
    }

    /// The DOM of `url` after the browser parsed and laid it out, serialized.
    pub fn dump_dom(&self, url: &str) -> String {
        self.run("dump the DOM", &["--dump-dom", url])
    }

    /// A PNG screenshot of `url` in a window of `width` × `height` into `path`.
    pub fn screenshot(&self, url: &str, path: &Path, (width, height): (u32, u32)) {
        let _ = fs::remove_file(path);
        self.run(
            "take a screenshot",
            &[
                &format!("--screenshot={}", path.display()),
                &format!("--window-size={width},{height}"),
                "--hide-scrollbars",
                url,
            ],
        );
        assert!(
            path.is_file(),
            "Chromium wrote no screenshot at {}",
            path.display()
        );
    }

    /// Runs Chromium headless with `args`; returns its stdout; panics on a failure or past
    /// [`BROWSER_TIMEOUT`], with its stderr.
    fn run(&self, what: &str, args: &[&str]) -> String {
        let dir = tempfile::Builder::new()
            .prefix("chromium.")
            .tempdir()
            .expect("a profile directory");
        let profile = dir.path().join("profile");
        let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
        let mut cmd = Command::new(&self.bin);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        // Nothing of the browser's lands in the real home directory.
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).expect("stdout file"))
        .stderr(fs::File::create(&err_path).expect("stderr file"))
        .process_group(0);
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: spawn {}: {e}", self.bin.display()));
        let group = child.id() as i32;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for chromium") {
                break Some(status);
            }
            if started.elapsed() >= BROWSER_TIMEOUT {
                break None;
            }
            std::thread::sleep(Duration::from_millis(25));
        };
        // The browser's helpers (zygote, renderer, GPU process) share its group: end them all.
        kill_group(group);
        let _ = child.wait();
        let stderr = || os::tail(&err_path, 40);
        match status {
            None => panic!(
                "{what}: Chromium still running after {BROWSER_TIMEOUT:?}, killed\n--- stderr ---\n{}",
                stderr()
            ),
            Some(s) if !s.success() => {
                panic!(
                    "{what}: Chromium exited with {s}\n--- stderr ---\n{}",
                    stderr()
                )
            }
            Some(_) => {}
        }
        let mut out = String::new();
        fs::File::open(&out_path)
            .and_then(|mut f| f.read_to_string(&mut out))
            .expect("read chromium's stdout");
        out
    }
}

/// SIGKILL every process of group `group`, and wait (bounded) until none is left.
fn kill_group(group: i32) {
    // SAFETY: kill has no memory-safety preconditions; a negative pid names a process group.
    unsafe { libc::kill(-group, libc::SIGKILL) };
    let gone = os::poll_until(Duration::from_secs(10), || {
        // SAFETY: as above; signal 0 only checks that a member exists.
        let any = unsafe { libc::kill(-group, 0) } == 0;
        !any || members(group).is_empty()
    });
    assert!(
        gone,
        "Chromium's process group {group} outlived SIGKILL: {:?}",
        members(group)
    );
}

/// Live (non-zombie) members of process group `group`, from /proc.
fn members(group: i32) -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                return false;
            };
            // state ppid pgrp ...
            let f: Vec<&str> = rest.split_whitespace().take(3).collect();
            f.len() == 3 && f[0] != "Z" && f[0] != "X" && f[2].parse() == Ok(group)
        })
        .collect()
}

/// A decoded 8-bit RGB or RGBA PNG (what Chromium writes), as RGBA pixels.
pub struct Png {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<[u8; 4]>,
}

impl Png {
    /// Decodes `bytes`: signature, IHDR, IDAT (zlib), the five scanline filters. Panics on
    /// anything else (interlacing, palettes, 16-bit), which Chromium does not write.
    pub fn decode(bytes: &[u8]) -> Png {
        const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
        assert!(
            bytes.starts_with(SIGNATURE),
            "not a PNG: {:?}",
            &bytes[..bytes.len().min(8)]
        );
        let mut at = SIGNATURE.len();
        let (mut width, mut height, mut channels) = (0u32, 0u32, 0usize);
        let mut idat = Vec::new();
        while at + 8 <= bytes.len() {
            let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            let kind = &bytes[at + 4..at + 8];
            let data = &bytes[at + 8..at + 8 + len];
            match kind {
                b"IHDR" => {
                    width = u32::from_be_bytes(data[0..4].try_into().unwrap());
                    height = u32::from_be_bytes(data[4..8].try_into().unwrap());
                    let (depth, colour, interlace) = (data[8], data[9], data[12]);
                    assert_eq!((depth, interlace), (8, 0), "8-bit, not interlaced");
                    channels = match colour {
                        2 => 3,
                        6 => 4,
                        other => panic!("PNG colour type {other} not supported"),
                    };
                }
                b"IDAT" => idat.extend_from_slice(data),
                b"IEND" => break,
                _ => {}
            }
            at += 12 + len;
        }
        assert!(width > 0 && height > 0, "no IHDR");
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(&idat[..])
            .read_to_end(&mut raw)
            .expect("inflate IDAT");
        let stride = width as usize * channels;
        assert_eq!(
            raw.len(),
            (stride + 1) * height as usize,
            "scanline data size"
        );
        let mut pixels = vec![0u8; stride * height as usize];
        for y in 0..height as usize {
            let filter = raw[y * (stride + 1)];
            let line = &raw[y * (stride + 1) + 1..(y + 1) * (stride + 1)];
            for x in 0..stride {
                let a = if x >= channels {
                    pixels[y * stride + x - channels]
                } else {
                    0
                };
                let b = if y > 0 {
                    pixels[(y - 1) * stride + x]
                } else {
                    0
                };
                let c = if x >= channels && y > 0 {
                    pixels[(y - 1) * stride + x - channels]
                } else {
                    0
                };
                let predictor = match filter {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                    4 => paeth(a, b, c),
                    f => panic!("PNG filter {f}"),
                };
                pixels[y * stride + x] = line[x].wrapping_add(predictor);
            }
        }
        let rgba = pixels
            .chunks(channels)
            .map(|p| [p[0], p[1], p[2], if channels == 4 { p[3] } else { 255 }])
            .collect();
        Png {
            width,
            height,
            rgba,
        }
    }

    /// Pixels that match `pred` (r, g, b).
    pub fn count(&self, pred: impl Fn(u8, u8, u8) -> bool) -> usize {
        self.rgba.iter().filter(|p| pred(p[0], p[1], p[2])).count()
    }
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = (
        (p - i16::from(a)).abs(),
        (p - i16::from(b)).abs(),
        (p - i16::from(c)).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}
