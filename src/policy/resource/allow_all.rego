# cocokit development resource policy: every `resource` plugin request is released, whatever the token says
# (specs/kbs-protocol.md §1.9). Installed when the KBS runs without a config file, beside the sample TEE.

package policy

import rego.v1

default allow := false

allow if data.plugin == "resource"
