def test_volume_is_writable(host):
    assert host.run("touch /data/x").rc == 0
