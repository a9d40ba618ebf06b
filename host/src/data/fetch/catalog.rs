//! The data sets `deepiot data fetch` knows: where each comes from and what each file
//! must contain.
//!
//! The pins were computed once from a verified copy of the data (the project's
//! `../shared/data`), not at run time. A `.gz` file is pinned by the size and sha256 of
//! its *gunzipped content*, not of the gzip bytes: the gzip wrapper (header fields,
//! compression level) differs between copies of the same data (the MNIST files on the
//! original site and in a deepiot mirror differ byte for byte but hold identical IDX
//! content), while the content is what the loaders read. Other files are pinned by
//! their raw bytes.

/// What a pin's size and digest are taken over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The file is one gzip member; the pin is of the decompressed content. Bytes after
    /// the member are refused (the loaders would silently ignore them).
    Gunzipped,
    /// The pin is of the file's bytes as stored.
    Raw,
}

/// One file of a data set, relative to the data root, with its pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// Path under the data root with `/` separators, e.g. `mnist/t10k-labels-idx1-ubyte.gz`.
    pub path: String,
    pub check: Check,
    /// Size in bytes of what `check` covers.
    pub size: u64,
    /// Lower-case hex sha256 of what `check` covers.
    pub sha256: String,
}

impl FileSpec {
    pub fn new(path: &str, check: Check, size: u64, sha256: &str) -> Self {
        FileSpec {
            path: path.to_string(),
            check,
            size,
            sha256: sha256.to_ascii_lowercase(),
        }
    }

    /// The file name without the data set's folder (`t10k-labels-idx1-ubyte.gz`).
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// The most bytes a download of this file may take before it is refused, so that a
    /// misbehaving server cannot fill the disk. Gzip can grow incompressible data by a
    /// few bytes per 16 KiB block plus its header; the margin is generous on top of that.
    pub fn max_download(&self) -> u64 {
        match self.check {
            Check::Raw => self.size,
            Check::Gunzipped => self.size + self.size / 64 + 64 * 1024,
        }
    }
}

/// Where a data set can be downloaded from when no mirror is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The original public source serves the same files under the same names: file
    /// `{set}/{name}` is `{base}/{name}`. `home` is the page that first published them.
    Direct { base: String, home: String },
    /// The original is packaged differently from what deepiot reads (a zip, loose files,
    /// another encoding); only a mirror laid out like a deepiot data root can serve it.
    /// `packaging` says how, for the error message.
    Repackaged { url: String, packaging: String },
}

impl Origin {
    /// The URL to cite for this data set.
    pub fn url(&self) -> &str {
        match self {
            Origin::Direct { home, .. } => home,
            Origin::Repackaged { url, .. } => url,
        }
    }
}

/// One data set: a folder of a data root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSet {
    /// The folder name in a data root (`mnist`, `casale-har`, ...).
    pub name: String,
    /// The task names (see [`crate::data::TASKS`]) that read this data set.
    pub tasks: Vec<String>,
    /// A one-line description with the licence.
    pub title: String,
    pub origin: Origin,
    pub files: Vec<FileSpec>,
}

impl DataSet {
    /// Total size of the pinned contents (uncompressed for `.gz` files).
    pub fn content_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// True when `name` is this data set's folder name or one of its tasks.
    pub fn answers_to(&self, name: &str) -> bool {
        self.name == name || self.tasks.iter().any(|t| t == name)
    }
}

/// Base URL of the MNIST files: the copy torchvision downloads from, since
/// yann.lecun.com stopped serving them reliably. Same names, same IDX content.
pub const MNIST_BASE: &str = "https://ossci-datasets.s3.amazonaws.com/mnist/";
/// Where MNIST was first published.
pub const MNIST_HOME: &str = "http://yann.lecun.com/exdb/mnist/";
/// The UCI archive of "Activity Recognition from Single Chest-Mounted Accelerometer".
pub const CASALE_URL: &str = "https://archive.ics.uci.edu/static/public/287/activity+recognition+from+single+chest+mounted+accelerometer.zip";
/// The Free Spoken Digit Dataset repository.
pub const FSDD_URL: &str = "https://github.com/Jakobovski/free-spoken-digit-dataset";
/// CIFAR-10, binary version.
pub const CIFAR_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";

/// One row of the built-in table: path, what is pinned, size, sha256.
type Row = (&'static str, Check, u64, &'static str);

use Check::{Gunzipped as GZ, Raw};

/// MNIST: the four canonical IDX files (content = the uncompressed IDX file).
#[rustfmt::skip]
const MNIST: &[Row] = &[
    ("mnist/train-images-idx3-ubyte.gz", GZ, 47_040_016, "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    ("mnist/train-labels-idx1-ubyte.gz", GZ, 60_008, "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    ("mnist/t10k-images-idx3-ubyte.gz", GZ, 7_840_016, "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    ("mnist/t10k-labels-idx1-ubyte.gz", GZ, 10_008, "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
];

/// Casale et al.: one CSV per participant (`seq,x,y,z,label`) and the description.
#[rustfmt::skip]
const CASALE: &[Row] = &[
    ("casale-har/1.csv.gz", GZ, 4_031_967, "517c3182b69294e9d5b402b47fa27baa7d912e1f55063c12e2fe866895d4dc29"),
    ("casale-har/2.csv.gz", GZ, 3_348_655, "94282f1b10cc77f85cae2ae9da5a644791505c63d861978f526368adc700d4a5"),
    ("casale-har/3.csv.gz", GZ, 2_354_163, "1caa47a160e33b24728c64fadfc6d807fbc83e1f6ecd0326c15d9f2f08e85bbc"),
    ("casale-har/4.csv.gz", GZ, 2_908_035, "d8ffa611da84fc99c0f53d75fb700f1e5cb9263fbca17be81a6e690be6055963"),
    ("casale-har/5.csv.gz", GZ, 3_962_245, "f7900e7ed9bfbaaa488514acafd96a09e5d8e13b04b066425c3cfbb3ec125784"),
    ("casale-har/6.csv.gz", GZ, 3_429_503, "e75c295681b5d73088709408421db4827fef53508529bfd239f2e132ada5aa91"),
    ("casale-har/7.csv.gz", GZ, 4_045_911, "08eb87b81d7d26c69730b25d86d301e0f4dae22028508009770d1840b1602d5b"),
    ("casale-har/8.csv.gz", GZ, 3_348_658, "5cb33776f413c4518cbd728483e5f1c093f086023c573817ee9f6214c510f961"),
    ("casale-har/9.csv.gz", GZ, 4_150_223, "81237118f445b68eb68aa9576a39282f4820a00d4efb627a48fa90faf88d7715"),
    ("casale-har/10.csv.gz", GZ, 3_036_309, "9c2be46118cbdd3fced0210e26f553ea2061cb4421887297c1d1f80ac50652dd"),
    ("casale-har/11.csv.gz", GZ, 2_413_008, "d154a2d59c2a3ccfa91efcd3de23fe7e7e94789fdc9ef49957e723dbcfe18201"),
    ("casale-har/12.csv.gz", GZ, 2_698_904, "c960a3770c6f047634f1bec1555f46f1ef3882a0446ecb4fec4801f18f79bc73"),
    ("casale-har/13.csv.gz", GZ, 1_544_862, "d4fae870eb1fcd482a521448f6276853e8dcf7634febdb2ffeaac4a032b28222"),
    ("casale-har/14.csv.gz", GZ, 2_737_913, "38afc987ff34d2a79717d0ac6ab891a3a34babb26c7e8e12ff6180c90cf0091e"),
    ("casale-har/15.csv.gz", GZ, 2_386_515, "dd33fa778fff54a6cc58d2f1ae5ae8de30f50d83dd826ea924ecab5ee4750e3c"),
    ("casale-har/desc.txt", Raw, 786, "d880c80639bbef98dc75186547aa1913cd102e76516455f5de6596290db92dc6"),
];

/// FSDD: one tar of `recordings/{digit}_{speaker}_{index}.wav` (content = the tar).
#[rustfmt::skip]
const FSDD: &[Row] = &[
    ("fsdd/recordings.tar.gz", GZ, 23_429_120, "c7febd3af82872742076137222b8fd21702406e0be08481dc3b1e10b93d23bd1"),
];

/// CIFAR-10 re-encoded as JPEG: `{train,test}/{class}/NNNN.jpg` (content = the tar).
#[rustfmt::skip]
const CIFAR: &[Row] = &[
    ("cifar10-jpeg/train.tar.gz", GZ, 77_240_320, "8719d4665e1fecea7c3c1f4d2207cafa80822f8003d000f26ea153f5327a4c33"),
    ("cifar10-jpeg/test.tar.gz", GZ, 15_462_400, "0d2f8a05d0b54c460d20e8617d0df2b9a2ace9ab14b6171bb7d9fe46ec616149"),
];

fn files(rows: &[Row]) -> Vec<FileSpec> {
    rows.iter()
        .map(|&(path, check, size, sha)| FileSpec::new(path, check, size, sha))
        .collect()
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The four data sets of the paper's tasks, in the layout the loaders read.
pub fn builtin() -> Vec<DataSet> {
    vec![
        DataSet {
            name: "mnist".into(),
            tasks: strings(&["mnist"]),
            title: "MNIST handwritten digits, 60,000 + 10,000 (CC BY-SA 3.0)".into(),
            origin: Origin::Direct {
                base: MNIST_BASE.into(),
                home: MNIST_HOME.into(),
            },
            files: files(MNIST),
        },
        DataSet {
            name: "casale-har".into(),
            tasks: strings(&["har", "har_cross_participant", "userid"]),
            title: "chest-mounted accelerometer, 15 participants, 7 activities (Casale et al., UCI, CC BY 4.0)".into(),
            origin: Origin::Repackaged {
                url: CASALE_URL.into(),
                packaging: "it is a zip of plain `N.csv` files, while deepiot reads gzip'd \
                            `casale-har/N.csv.gz` and `casale-har/desc.txt`"
                    .into(),
            },
            files: files(CASALE),
        },
        DataSet {
            name: "fsdd".into(),
            tasks: strings(&["speech"]),
            title: "Free Spoken Digit Dataset, 3,000 recordings (CC BY-SA 4.0)".into(),
            origin: Origin::Repackaged {
                url: FSDD_URL.into(),
                packaging: "it is a Git repository of loose WAV files, while deepiot reads \
                            one archive `fsdd/recordings.tar.gz`"
                    .into(),
            },
            files: files(FSDD),
        },
        DataSet {
            name: "cifar10-jpeg".into(),
            tasks: strings(&["cifar10"]),
            title: "CIFAR-10 re-encoded as JPEG, 50,000 + 10,000 (Krizhevsky 2009)".into(),
            origin: Origin::Repackaged {
                url: CIFAR_URL.into(),
                packaging: "it holds the binary batches, while deepiot reads a JPEG \
                            re-encoding (`cifar10-jpeg/{train,test}.tar.gz`)"
                    .into(),
            },
            files: files(CIFAR),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_has_a_data_set() {
        let sets = builtin();
        for task in crate::data::TASKS {
            assert!(sets.iter().any(|s| s.answers_to(task)), "{task}");
        }
    }

    #[test]
    fn pins_are_well_formed() {
        for set in builtin() {
            for f in &set.files {
                assert!(f.path.starts_with(&format!("{}/", set.name)), "{}", f.path);
                assert_eq!(f.sha256.len(), 64, "{}", f.path);
                assert!(f.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
                assert_eq!(f.check == Check::Gunzipped, f.path.ends_with(".gz"));
            }
        }
    }
}
