import os
import pwd
import stat
from pathlib import Path


def test_run_sh_executable_by_all():
    mode = os.stat("/app/run.sh").st_mode
    assert mode & stat.S_IXUSR and mode & stat.S_IXGRP and mode & stat.S_IXOTH


def test_secret_key_private():
    assert stat.S_IMODE(os.stat("/app/secret.key").st_mode) == 0o600


def test_logs_owned_by_www_data():
    www = pwd.getpwnam("www-data")
    for p in [Path("/app/logs"), *Path("/app/logs").rglob("*")]:
        st = os.stat(p)
        assert (st.st_uid, st.st_gid) == (www.pw_uid, www.pw_gid), p
