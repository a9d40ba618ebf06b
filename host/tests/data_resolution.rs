//! Which data root a task reads when nothing is named: the user's folder first, but a
//! user's folder that lacks the task's data set does not hide `../shared/data` that has
//! it. One test in its own process, because it sets the environment and the current
//! directory.
use deepiot::data::{DataRoot, RootOrigin};

#[test]
fn a_users_folder_without_the_data_set_does_not_hide_a_later_place_that_has_it() {
    let tmp = tempfile::tempdir().unwrap();
    let user = tmp.path().join("user");
    std::fs::create_dir_all(user.join("mnist")).unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(tmp.path().join("shared/data/casale-har")).unwrap();
    std::env::remove_var("DEEPIOT_DATA");
    std::env::set_var("DEEPIOT_USER_DATA", &user);
    std::env::set_current_dir(&work).unwrap();

    let plain = DataRoot::resolve(None).unwrap();
    assert_eq!(plain.origin, RootOrigin::User);
    let mnist = DataRoot::resolve_for(None, "mnist").unwrap();
    assert_eq!(
        (mnist.origin, mnist.path.as_path()),
        (RootOrigin::User, user.as_path())
    );
    let har = DataRoot::resolve_for(None, "userid").unwrap();
    assert_eq!(har.origin, RootOrigin::CurrentDir);
    assert!(
        har.path.join("casale-har").is_dir(),
        "{}",
        har.path.display()
    );

    // A named root is used as given, even without the data set.
    let named = DataRoot::resolve_for(Some(&user), "har").unwrap();
    assert_eq!(named.origin, RootOrigin::Explicit);
    std::env::set_var("DEEPIOT_DATA", &user);
    assert_eq!(
        DataRoot::resolve_for(None, "har").unwrap().origin,
        RootOrigin::Env
    );
}
