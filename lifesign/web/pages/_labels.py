"""Human names of the catalog's codes, in the page's language (programs, evidence types,
departments, sources, regions), for the overview, sources, worklist and person pages."""

from __future__ import annotations

from dataclasses import dataclass

from lifesign.catalog import Catalog
from lifesign.web.i18n import translate
from lifesign.web.queries.common import source_definitions


@dataclass(frozen=True)
class Labels:
    catalog: Catalog
    lang: str

    @property
    def english(self) -> bool:
        return self.lang == "en"

    def program(self, code: str | None) -> str:
        if not code:
            return "—"
        found = self.catalog.programs.get(code)
        if found is None:
            return code
        return found.name_en if self.english else found.name_zh

    def evidence_type(self, code: str | None) -> str:
        if not code:
            return "—"
        found = self.catalog.evidence_types.get(code)
        if found is not None:
            return found.name_en if self.english else found.name_zh
        # the manual channels record their own kinds (face verification, visit, ...)
        key = f"pages.evidence_kind.{code}"
        text = translate(key, self.lang)
        return code if text == key else text

    def strength(self, code: str | None) -> str | None:
        found = self.catalog.evidence_types.get(code or "")
        return found.strength if found is not None else None

    def department(self, code: str | None) -> str:
        if not code:
            return "—"
        found = self.catalog.departments.get(code) or self.catalog.agencies.get(code)
        if found is None:  # an unknown code is shown as it is
            return code
        return found.name_en if self.english else found.name_zh

    def source(self, code: str | None) -> str:
        """A department feed's name (zh-CN in the definition; English: department + code)."""
        if not code:
            return "—"
        definition = source_definitions(self.catalog).get(code)
        if definition is None:
            key = f"pages.channel_source.{code}"
            text = translate(key, self.lang)
            return code if text == key else text
        if self.english:
            return f"{self.department(definition.department)} · {code}"
        return definition.name_zh

    def source_short(self, code: str | None) -> str:
        """A feed's name where its department is already shown: zh-CN name, else the code."""
        definition = source_definitions(self.catalog).get(code or "")
        if definition is None or self.english:
            return code or "—"
        return definition.name_zh

    def source_department(self, code: str | None) -> str | None:
        definition = source_definitions(self.catalog).get(code or "")
        return definition.department if definition is not None else None

    def region(self, code: str | None) -> str:
        if not code:
            return "—"
        found = self.catalog.regions.by_code.get(code)
        return found.name_zh if found is not None else code

    def region_path(self, code: str | None) -> str:
        """County › township › village › grid, the way a worker says where someone lives."""
        if not code or code not in self.catalog.regions.by_code:
            return code or "—"
        chain = self.catalog.regions.ancestors(code)
        return " › ".join(region.name_zh for region in reversed(chain))

    def rule(self, code: str) -> str:
        key = f"pages.rule.{code}"
        text = translate(key, self.lang)
        return code if text == key else text

    def word(self, group: str, code: str | None) -> str:
        """`pages.<group>.<code>` translated, else the code itself."""
        if code is None:
            return "—"
        key = f"pages.{group}.{code}"
        text = translate(key, self.lang)
        return code if text == key else text
