"""Every table of the state database, from every package, on one metadata.

Alembic's environment and the models-versus-migrations test use `metadata` from here, so a
package's tables count as soon as its models module is listed below.
"""

from __future__ import annotations

import lifesign.certify.models
import lifesign.integrity.models
import lifesign.lifecycle.models
import lifesign.notify.models
import lifesign.web.api.models
import lifesign.web.models
from lifesign.store.models import Base

MODEL_MODULES = (
    lifesign.certify.models,
    lifesign.lifecycle.models,
    lifesign.notify.models,
    lifesign.integrity.models,
    lifesign.web.models,
    lifesign.web.api.models,
)
metadata = Base.metadata
