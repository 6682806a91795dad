use super::*;

fn name(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn content(tree: &Tree, ino: Ino) -> Vec<u8> {
    tree.read(ino, 0, u32::MAX).unwrap().to_vec()
}

#[test]
fn unsynced_writes_vanish_at_a_power_cut_and_synced_ones_stay() {
    let mut tree = Tree::new();
    let f = tree.create(ROOT, name("blk"), 0o644).unwrap().ino;
    tree.write(f, 0, b"acked").unwrap();
    tree.sync(f).unwrap();
    tree.write(f, 5, b"-lazy").unwrap();
    assert_eq!(content(&tree, f), b"acked-lazy");
    tree.power_cut();
    assert_eq!(content(&tree, f), b"acked");
    assert_eq!(tree.stats().dropped_bytes, 5);
}

#[test]
fn a_file_never_synced_is_empty_after_a_power_cut_but_still_named() {
    let mut tree = Tree::new();
    let d = tree.mkdir(ROOT, name("msgs"), 0o755).unwrap().ino;
    let f = tree.create(d, name("1.blk"), 0o644).unwrap().ino;
    tree.write(f, 0, b"data").unwrap();
    tree.power_cut();
    assert_eq!(tree.lookup(d, name("1.blk")).unwrap().size, 0);
}

#[test]
fn truncation_is_lazy_too() {
    let mut tree = Tree::new();
    let f = tree.create(ROOT, name("idx"), 0o644).unwrap().ino;
    tree.write(f, 0, b"0123456789").unwrap();
    tree.sync(f).unwrap();
    tree.set_len(f, 2).unwrap();
    tree.write(f, 4, b"x").unwrap();
    assert_eq!(content(&tree, f), b"01\0\0x");
    tree.power_cut();
    assert_eq!(content(&tree, f), b"0123456789");
    tree.set_len(f, 3).unwrap();
    tree.sync(f).unwrap();
    tree.power_cut();
    assert_eq!(content(&tree, f), b"012");
}

#[test]
fn rename_replaces_a_file_and_refuses_what_rename_2_refuses() {
    let mut tree = Tree::new();
    let a = tree.create(ROOT, name("a"), 0o644).unwrap().ino;
    tree.create(ROOT, name("b"), 0o644).unwrap();
    let d = tree.mkdir(ROOT, name("d"), 0o755).unwrap().ino;
    tree.create(d, name("inner"), 0o644).unwrap();
    tree.rename(ROOT, name("a"), ROOT, name("b"), false)
        .unwrap();
    assert_eq!(tree.lookup(ROOT, name("b")).unwrap().ino, a);
    assert_eq!(tree.lookup(ROOT, name("a")).unwrap_err(), FsError::NotFound);
    assert_eq!(
        tree.rename(ROOT, name("b"), ROOT, name("d"), false),
        Err(FsError::IsDir)
    );
    let e = tree.mkdir(ROOT, name("e"), 0o755).unwrap().ino;
    assert_eq!(
        tree.rename(ROOT, name("e"), ROOT, name("d"), false),
        Err(FsError::NotEmpty)
    );
    assert_eq!(
        tree.rename(ROOT, name("e"), ROOT, name("b"), false),
        Err(FsError::NotDir)
    );
    tree.rename(ROOT, name("e"), d, name("e2"), true).unwrap();
    assert_eq!(tree.lookup(d, name("e2")).unwrap().ino, e);
    assert_eq!(
        tree.rename(ROOT, name("b"), d, name("inner"), true),
        Err(FsError::Exists)
    );
}

#[test]
fn directories_refuse_file_operations_and_non_empty_removal() {
    let mut tree = Tree::new();
    let d = tree.mkdir(ROOT, name("d"), 0o755).unwrap().ino;
    tree.create(d, name("f"), 0o644).unwrap();
    assert_eq!(tree.write(d, 0, b"x"), Err(FsError::IsDir));
    assert_eq!(tree.rmdir(ROOT, name("d")), Err(FsError::NotEmpty));
    assert_eq!(tree.unlink(ROOT, name("d")), Err(FsError::IsDir));
    assert_eq!(
        tree.create(ROOT, name("d"), 0o644).unwrap_err(),
        FsError::Exists
    );
    tree.unlink(d, name("f")).unwrap();
    tree.rmdir(ROOT, name("d")).unwrap();
    assert!(tree.entries(ROOT).unwrap().is_empty());
}

#[test]
fn reads_past_the_end_are_short() {
    let mut tree = Tree::new();
    let f = tree.create(ROOT, name("f"), 0o644).unwrap().ino;
    tree.write(f, 3, b"abc").unwrap();
    assert_eq!(content(&tree, f), b"\0\0\0abc");
    assert_eq!(tree.read(f, 4, 10).unwrap(), b"bc");
    assert_eq!(tree.read(f, 100, 10).unwrap(), b"");
}
