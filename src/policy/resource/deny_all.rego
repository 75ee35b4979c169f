# cocokit resource policy that releases nothing (specs/kbs-protocol.md §1.9): `allow` is always false.

package policy

import rego.v1

default allow := false
