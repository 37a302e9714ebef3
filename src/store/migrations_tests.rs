//! The embedded lists must be exactly the files of `migrations/<backend>/`.

use std::collections::BTreeMap;
use std::path::Path;

use super::{POSTGRES, SQLITE};

/// A folder's `.sql` files: name → content.
type Folder = BTreeMap<String, String>;

fn read_folder(backend: &str) -> Folder {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|x| x == "sql"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect()
}

/// What is wrong between one backend's list and its folder: every file is listed under the
/// version its name starts with, with the file's text, and versions run 1, 2, 3… with no gap.
fn list_problems(backend: &str, list: &[(i64, &str, &str)], folder: &Folder) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, (version, _, _)) in list.iter().enumerate() {
        if *version != i as i64 + 1 {
            problems.push(format!("{backend}: version {version} is listed in position {}", i + 1));
        }
    }
    for (name, text) in folder {
        let version = name.split('_').next().and_then(|v| v.parse::<i64>().ok());
        match version.and_then(|v| list.iter().find(|(listed, _, _)| *listed == v)) {
            None => problems.push(format!("{backend}: {name} is not in the list")),
            Some((_, _, sql)) if sql != text => {
                problems.push(format!("{backend}: {name} is not what its version lists"))
            }
            Some(_) => {}
        }
    }
    if list.len() != folder.len() {
        problems.push(format!(
            "{backend}: {} migrations listed, {} files",
            list.len(),
            folder.len()
        ));
    }
    problems
}

/// The two backends' folders must hold the same file names.
fn name_problems(sqlite: &Folder, postgres: &Folder) -> Vec<String> {
    let only = |a: &Folder, b: &Folder, which: &str| {
        a.keys()
            .filter(|name| !b.contains_key(*name))
            .map(|name| format!("{name} exists only for {which}"))
            .collect::<Vec<_>>()
    };
    let mut problems = only(sqlite, postgres, "sqlite");
    problems.extend(only(postgres, sqlite, "postgres"));
    problems
}

#[test]
fn the_lists_are_the_folders() {
    let (sqlite, postgres) = (read_folder("sqlite"), read_folder("postgres"));
    let mut problems = list_problems("sqlite", SQLITE, &sqlite);
    problems.extend(list_problems("postgres", POSTGRES, &postgres));
    problems.extend(name_problems(&sqlite, &postgres));
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn a_file_left_off_the_list_is_found() {
    let mut folder = read_folder("sqlite");
    let next = SQLITE.len() + 1;
    folder.insert(format!("{next:04}_added.sql"), "SELECT 1;".into());
    let problems = list_problems("sqlite", SQLITE, &folder);
    assert!(
        problems.iter().any(|p| p.contains("_added.sql is not in the list")),
        "{problems:?}"
    );
}

#[test]
fn a_gap_a_changed_file_and_names_that_disagree_are_found() {
    let sql = "SELECT 1;";
    let folder: Folder = [("0001_a.sql", sql), ("0003_c.sql", "SELECT 3;")]
        .into_iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    let problems = list_problems("t", &[(1, "a", sql), (3, "c", "SELECT 2;")], &folder);
    assert!(
        problems.iter().any(|p| p.contains("version 3 is listed in position 2")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("0003_c.sql is not what")),
        "{problems:?}"
    );

    let mut other = folder.clone();
    other.remove("0003_c.sql");
    other.insert("0003_d.sql".into(), String::new());
    let problems = name_problems(&folder, &other);
    assert_eq!(problems.len(), 2, "{problems:?}");
}
