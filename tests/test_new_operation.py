"""Adding an operation is one spec entry (plus its emulator transform): everything else follows from it."""

from __future__ import annotations

import numpy as np
import pytest

from hdredraw.engine import cli, specs
from hdredraw.engine.emulator import imaging
from hdredraw.engine.jobs import Client
from hdredraw.engine.specs import FLOAT, HDREDRAW, Field, Operation
from hdredraw.engine.text import Text

SHARPEN = Operation(
    "sharpen", HDREDRAW, "/api/submit_sharpen_task", "HDRedraw_Sharpen",
    Text("Sharpen", "锐化"), Text("Sharpens an image.", "锐化图像。"),
    (Field("amount", FLOAT, Text("amount", "强度"), Text("How much (0-2).", "锐化强度(0-2)。"),
           required=False, default=1.0, min=0.0, max=2.0, step=0.1),
     Field("input_image", specs.IMAGE, Text("image", "图像"), Text("The image.", "图像。"))),
    category="HD Redraw/Enhance")


@pytest.fixture
def sharpen(monkeypatch):
    monkeypatch.setitem(specs.OPERATIONS, SHARPEN.id, SHARPEN)
    monkeypatch.setitem(imaging.TRANSFORMS, SHARPEN.id, lambda img, p: imaging.Outputs([img.copy()]))
    return SHARPEN


def test_its_node_cli_locales_and_service_call_all_appear(sharpen, make_settings, emu, capsys):
    pytest.importorskip("torch")
    from hdredraw.nodes import factory, i18n

    node = factory.operation_nodes()["HDRedraw_Sharpen"]
    inputs = node.INPUT_TYPES()["required"]
    assert inputs["amount"][1]["max"] == 2.0 and node.RETURN_NAMES == ("image", "mask", "task_ids")
    locales = i18n.generate()
    assert locales["zh/nodeDefs.json"]["HDRedraw_Sharpen"]["display_name"] == "锐化"
    with pytest.raises(SystemExit):
        cli.main(["run", "sharpen", "--help"])
    assert "--amount" in capsys.readouterr().out
    result = Client(make_settings()).run("sharpen", np.zeros((16, 16, 3), np.float32), {"amount": 1.5})
    assert result.images and emu.submissions[0]["endpoint"] == "/api/submit_sharpen_task"
    assert emu.submissions[0]["fields"]["amount"] == "1.5"


def test_a_nodes_parameters_are_checked_once_and_put_in_form_once(sharpen, comfy, service_env, monkeypatch):
    """ComfyUI → node → runner → engine batch → request → service form: one validation, one wire form."""
    torch = pytest.importorskip("torch")
    from helpers import settle

    from hdredraw.nodes import factory

    calls = {"coerce": 0, "wire": 0}
    coerce, wire = Field.coerce, Operation.wire_fields
    monkeypatch.setattr(Field, "coerce", lambda self, v: calls.__setitem__("coerce", calls["coerce"] + 1)
                        or coerce(self, v))
    monkeypatch.setattr(Operation, "wire_fields", lambda self, v: calls.__setitem__("wire", calls["wire"] + 1)
                        or wire(self, v))
    node = factory.operation_nodes()["HDRedraw_Sharpen"]()
    settle(node.run(image=torch.rand(3, 8, 8, 3), amount=1.5, unique_id="1"))
    assert calls == {"coerce": 1, "wire": 1}  # one field, a batch of three images
    assert len(service_env.submissions) == 3
