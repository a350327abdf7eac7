"""molbench: host targeting for the demo's checks under Molecule.

The lab's pytest plugin gives the checks a `lab` fixture whose `lab.host("db")` reaches any
service of the same copy by name. Under Molecule each copy is its own scenario and its own
Ansible inventory (the one Molecule's testinfra verifier passes with --ansible-inventory),
and every platform is in the Ansible group named after its service, so the same call
becomes a lookup of that group in this copy's inventory.
"""

import pytest
import testinfra


class Copy:
    def __init__(self, option):
        self._option = option

    def host(self, service):
        hosts = testinfra.get_hosts(
            [f"ansible://{service}"],
            connection=self._option.connection,
            ansible_inventory=self._option.ansible_inventory,
            force_ansible=self._option.force_ansible,
            sudo=self._option.sudo,
            sudo_user=self._option.sudo_user,
        )
        if len(hosts) != 1:
            raise KeyError(f"expected one platform in group '{service}', found {len(hosts)}")
        return hosts[0]


@pytest.fixture(scope="session")
def lab(request):
    return Copy(request.config.option)
