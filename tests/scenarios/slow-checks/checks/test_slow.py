def test_nightly_batch_job(host):
    assert host.run("sleep 60").rc == 0
