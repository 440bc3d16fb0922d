"""A package upgrade puts root-owned files back; the agent still starts unprivileged."""

from qbee_checks import AGENT, fresh_status, start_count, wait_for

PACKAGE = "/var/cache/qbee-standin/qbee-agent_standin_all.deb"
CA_CERT = "/etc/qbee/ppkeys/ca.cert"


def test_reinstalled_package_keeps_the_agent_running_unprivileged(host):
    assert fresh_status(host)["user"] == AGENT
    starts = start_count(host)
    host.run_expect([0], "systemctl stop qbee-agent")
    # What the package's postinst does on upgrade, run while the agent is down.
    host.run_expect([0], "DEBIAN_FRONTEND=noninteractive dpkg -i %s" % PACKAGE)
    cert = host.file(CA_CERT)
    assert (cert.user, cert.mode) == ("root", 0o600)
    # Without healing, the agent user could not read the certificate.
    assert host.run("runuser -u %s -- cat %s" % (AGENT, CA_CERT)).rc != 0

    host.run_expect([0], "systemctl start qbee-agent")
    assert wait_for(lambda: start_count(host) == starts + 1), host.check_output("journalctl -u qbee-agent -n 20 --no-pager")
    assert host.file(CA_CERT).user == AGENT
    report = fresh_status(host)
    assert report["user"] == AGENT and host.service("qbee-agent").is_running


def test_upgrade_that_restarts_the_running_agent(host):
    starts = start_count(host)
    host.run_expect([0], "DEBIAN_FRONTEND=noninteractive dpkg -i %s" % PACKAGE)
    assert wait_for(lambda: start_count(host) == starts + 1)
    assert host.file(CA_CERT).user == AGENT
    assert fresh_status(host)["user"] == AGENT
