//! LazyFS through the kernel: what a program sees on the mount before and after a power cut.
//! Needs /dev/fuse and root (as the power-loss suite does), not Docker.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};

use leaf_crash::lazyfs::LazyFs;

fn read(path: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    File::open(path).unwrap().read_to_end(&mut out).unwrap();
    out
}

#[test]
fn only_fsynced_data_survives_a_power_cut_through_the_kernel() {
    let dir = tempfile::tempdir().unwrap();
    let fs = LazyFs::mount(&dir.path().join("mnt")).unwrap_or_else(|e| panic!("{e}"));
    let root = fs.mountpoint().to_owned();

    fs::create_dir_all(root.join("streams/AUDIT/msgs")).unwrap();
    let block = root.join("streams/AUDIT/msgs/1.blk");
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&block)
        .unwrap();
    file.write_all(b"acked-1;").unwrap();
    file.sync_data().unwrap();
    file.write_all(b"acked-2;").unwrap();
    file.sync_all().unwrap();
    file.write_all(b"unsynced;").unwrap();
    // The writer still sees its own unsynced data, through a second open too.
    assert_eq!(read(&block), b"acked-1;acked-2;unsynced;");

    // A file written and renamed into place, never synced: its name survives, its data not.
    fs::write(root.join("meta.tmp"), b"{\"name\":\"AUDIT\"}").unwrap();
    fs::rename(root.join("meta.tmp"), root.join("streams/AUDIT/meta.inf")).unwrap();
    drop(file);

    fs.power_cut();
    assert_eq!(read(&block), b"acked-1;acked-2;");
    assert_eq!(
        fs::metadata(root.join("streams/AUDIT/meta.inf"))
            .unwrap()
            .len(),
        0
    );
    assert!(!root.join("meta.tmp").exists());

    // Writing again after the cut continues from what survived.
    let mut file = OpenOptions::new().write(true).open(&block).unwrap();
    file.seek(SeekFrom::End(0)).unwrap();
    file.write_all(b"acked-3;").unwrap();
    file.sync_all().unwrap();
    fs.power_cut();
    assert_eq!(read(&block), b"acked-1;acked-2;acked-3;");

    let names: Vec<String> = fs::read_dir(root.join("streams/AUDIT"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let stats = fs.stats();
    assert_eq!(stats.power_cuts, 2);
    assert_eq!(stats.dropped_bytes, b"unsynced;".len() as u64 + 16);
}

#[test]
fn an_o_sync_write_is_durable_without_an_fsync() {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = tempfile::tempdir().unwrap();
    let fs = LazyFs::mount(&dir.path().join("mnt")).unwrap_or_else(|e| panic!("{e}"));
    let meta = fs.mountpoint().join("meta.inf");
    // How nats-server writes a stream's meta.inf under `sync_interval: always`.
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_SYNC)
        .open(&meta)
        .unwrap();
    file.write_all(b"{\"name\":\"AUDIT\"}").unwrap();
    drop(file);
    let mut file = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DSYNC)
        .open(&meta)
        .unwrap();
    file.write_all(b"{\"name\":\"STATE\"}").unwrap();
    drop(file);
    fs.power_cut();
    assert_eq!(read(&meta), b"{\"name\":\"STATE\"}");
}
