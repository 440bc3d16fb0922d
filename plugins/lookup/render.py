# Copyright: qbee.unprivileged maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render template files with the task's variables, without copying them."""

from __future__ import annotations

DOCUMENTATION = r"""
name: render
author:
  - qbee.unprivileged maintainers (@qbee-unprivileged)
short_description: Render template files with the task's variables, without copying them
description:
  - Returns each template file rendered with the variables of the task, as the
    P(ansible.builtin.template#lookup) lookup does, for the roles' declarations
    (M(qbee.unprivileged.desired_state)).
  - The difference is the cost. P(ansible.builtin.template#lookup) deep-copies every variable of the
    task before it renders (a tenth of a second per file where the preflight's read of the device is
    among them, on every host, each time a declaration is evaluated); this lookup lays the few
    variables it adds over the task's variables instead, so rendering costs what the template does.
  - The variable C(ansible_managed) is the one set in the inventory or play where it is, else
    C(Ansible managed), the default of ansible-core's deprecated C(ansible_managed) setting; that
    setting itself (in C(ansible.cfg)) is not read. The template metadata variables
    C(template_path), C(template_host) and the like are not set.
options:
  _terms:
    description:
      - Paths of the template files, absolute, or found in the C(templates) folder of the role or
        playbook as P(ansible.builtin.template#lookup) finds them.
    type: list
    elements: str
    required: true
notes:
  - The templates are rendered with the Jinja options of P(ansible.builtin.template#lookup)'s
    defaults; that lookup's options (delimiters, C(template_vars)) are not offered.
seealso:
  - plugin: ansible.builtin.template
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Declare a drop-in rendered from the role's template
  ansible.builtin.set_fact:
    dropin_content: "{{ lookup('qbee.unprivileged.render', role_path ~ '/templates/dropin.conf.j2') }}"
"""

RETURN = r"""
_raw:
  description: The rendered text of each template, in the order given.
  type: list
  elements: str
"""

import collections
import os

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase
from ansible.template import trust_as_template

# ansible-core's default for the ansible_managed setting (DEFAULT_MANAGED_STR).
MANAGED_DEFAULT = "Ansible managed"


class LookupModule(LookupBase):
    """Renders each term's template over the task's variables, not over a copy of them."""

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        variables = variables if variables is not None else {}
        added = {} if "ansible_managed" in variables else {"ansible_managed": MANAGED_DEFAULT}
        rendered = []
        for term in terms:
            path = self.find_file_in_search_path(variables, "templates", term, ignore_missing=True)
            if not path:
                raise AnsibleError("qbee.unprivileged.render: the template file %s could not be found" % term)
            source = trust_as_template(self._loader.get_text_file_contents(path))
            templar = self._templar.copy_with_new_env(
                available_variables=collections.ChainMap(added, variables), searchpath=[os.path.dirname(path)])
            rendered.append(templar.template(source, escape_backslashes=False))
        return rendered
