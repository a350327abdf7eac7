def test_never_runs(host):
    assert host.file("/").exists
