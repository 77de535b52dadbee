"""U-Net as its paper draws it (Ronneberger et al. 2015, Fig. 1), and the language it
needs: layers that read earlier named members (`from:`), crop, up-convolution,
resize, and several named outputs (`returns:`)."""

from __future__ import annotations

import textwrap

import pytest
import torch
from torch import nn

import archdsl
from archdsl.api import check
from archdsl.diagnostics import SpecError
from archdsl.lang.load import parse_spec
from archdsl.ops import OPS
from archdsl.passes.cost import totals
from conftest import SPECS

# Fig. 1, level by level: (channels, the map's side after that layer).
FIG1 = {
    "enc1": (64, 568), "pool1": (64, 284), "enc2": (128, 280), "pool2": (128, 140),
    "enc3": (256, 136), "pool3": (256, 68), "enc4": (512, 64), "pool4": (512, 32),
    "enc5": (1024, 28),
    "up4": (512, 56), "crop4": (512, 56), "cat4": (1024, 56), "dec4": (512, 52),
    "up3": (256, 104), "crop3": (256, 104), "cat3": (512, 104), "dec3": (256, 100),
    "up2": (128, 200), "crop2": (128, 200), "cat2": (256, 200), "dec2": (128, 196),
    "up1": (64, 392), "crop1": (64, 392), "cat1": (128, 392), "dec1": (64, 388),
    "head": (2, 388),
}


def _paper_parameters() -> int:
    """The layers of Fig. 1: 3x3 convs in pairs, 2x2 up-convs, the 1x1 conv, with
    biases."""
    def conv(cin, cout, k):
        return cin * cout * k * k + cout

    widths = [64, 128, 256, 512, 1024]
    total, cin = 0, 1
    for w in widths:  # the contracting path
        total += conv(cin, w, 3) + conv(w, w, 3)
        cin = w
    for w in reversed(widths[:-1]):  # the expanding path
        total += conv(cin, w, 2)  # up-conv: cin -> w, 2x2
        total += conv(2 * w, w, 3) + conv(w, w, 3)  # after the concatenation
        cin = w
    return total + conv(64, 2, 1)


def _value(arch, member: str):
    """The shape of a member of the network: an op node, or a block's output."""
    graph = arch.graph
    if member in graph.dag:
        return graph.shape(member)
    return graph.shape(graph.scope((member,)).output)


def test_parameters_are_the_papers():
    arch = archdsl.load(SPECS / "unet.yaml")
    assert arch.param_count == _paper_parameters() == 31_030_658


def test_shapes_are_fig_1_node_by_node():
    arch = archdsl.load(SPECS / "unet.yaml")
    for member, (channels, side) in FIG1.items():
        assert _value(arch, member).dims == (channels, side, side), member
    assert arch.graph.shape(arch.graph.output).dims == (2, 388, 388)


def test_padded_variant_keeps_the_size():
    arch = archdsl.load(SPECS / "unet.yaml", overrides=["padding=1"], input=(1, 256, 256))
    assert arch.graph.shape(arch.graph.output).dims == (2, 256, 256)
    assert arch.param_count == _paper_parameters()  # padding adds no weights
    assert _value(arch, "crop4").dims == _value(arch, "enc4").dims  # nothing to crop


class HandWrittenUNet(nn.Module):
    """A U-Net written out by hand, with the spec's member names."""

    def __init__(self, base: int, depth: int = 4, classes: int = 2):
        super().__init__()

        def double(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3), nn.ReLU(),
                                 nn.Conv2d(cout, cout, 3), nn.ReLU())

        self.depth = depth
        widths = [base * 2 ** i for i in range(depth + 1)]
        self.enc = nn.ModuleList([double(1, widths[0])] + [
            double(widths[i], widths[i + 1]) for i in range(depth)])
        self.up = nn.ModuleList([nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2)
                                 for i in range(depth)])
        self.dec = nn.ModuleList([double(2 * widths[i], widths[i]) for i in range(depth)])
        self.head = nn.Conv2d(widths[0], classes, 1)

    def forward(self, x):
        skips = []
        for i, enc in enumerate(self.enc):
            x = enc(x if i == 0 else nn.functional.max_pool2d(x, 2))
            skips.append(x)
        for i in reversed(range(self.depth)):
            x = self.up[i](x)
            skip = skips[i]
            dy, dx = (skip.shape[2] - x.shape[2]) // 2, (skip.shape[3] - x.shape[3]) // 2
            skip = skip[:, :, dy:dy + x.shape[2], dx:dx + x.shape[3]]
            x = self.dec[i](torch.cat([skip, x], 1))
        return self.head(x)

    def spec_state_dict(self) -> dict:
        """Its weights under the spec's names: enc1…, up4…, dec4…, head."""
        out = {}
        for name, tensor in self.state_dict().items():
            kind, rest = name.split(".", 1)
            if kind in ("enc", "up", "dec"):
                index, rest = rest.split(".", 1)
                level = int(index) + 1
                name = f"{kind}{level}.{rest}"
            out[name] = tensor
        return out


def test_equals_a_hand_written_unet():
    """base 8 on a 188x188 tile (the smallest that four unpadded levels take)."""
    arch = archdsl.load(SPECS / "unet.yaml", base=8, input=(1, 188, 188))
    torch.manual_seed(0)
    reference = HandWrittenUNet(8).eval()
    model = archdsl.build(arch).eval()
    model.load_state_dict(reference.spec_state_dict(), strict=True)
    x = torch.randn(2, 1, 188, 188)
    with torch.no_grad():
        expected = reference(x)
        assert expected.shape == (2, 2, 4, 4)
        torch.testing.assert_close(model(x), expected)
        torch.testing.assert_close(torch.jit.script(model)(x), expected)


def test_macs_equal_a_hook_count():
    arch = archdsl.load(SPECS / "unet.yaml")
    with torch.device("meta"):
        model = archdsl.build(arch)
    total = 0

    def count(module, inputs, output):
        nonlocal total
        k = module.kernel_size[0] * module.kernel_size[1]
        if isinstance(module, nn.ConvTranspose2d):  # every input value meets the kernel
            total += inputs[0][0].numel() * module.out_channels * k
        else:
            total += output[0].numel() * module.in_channels * k

    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            m.register_forward_hook(count)
    with torch.no_grad():
        model(torch.empty(1, 1, 572, 572, device="meta"))
    assert totals(arch.graph).macs == total


def test_the_generated_unet_reads_like_a_hand_written_one():
    source = archdsl.compile_source(SPECS / "unet.yaml")
    assert "        enc4 = self.enc4(out)  # (N, 512, 64, 64)\n" in source
    assert "        crop4 = enc4[:, :, 4:60, 4:60]  # (N, 512, 56, 56)\n" in source
    assert "        cat4 = torch.cat([crop4, up4], 1)  # (N, 1024, 56, 56)\n" in source


def net(network: str, returns: str = "", input_: str = "[3, 16, 16]"):
    text = f"archdsl: 1\nname: net\ninput: {input_}\n{textwrap.dedent(returns)}" \
           f"network:\n{textwrap.indent(textwrap.dedent(network), '  ')}"
    return check(parse_spec(text, "<net>", ops=OPS))


def test_named_outputs_are_a_dict_in_every_mode():
    arch = net("""
        - stem: conv(8, 3, stride=2)
        - body: [conv(16, 3, stride=2), relu]
        - aux:
            from: stem
            body: conv(4, 1)
        - classifier:
            from: body
            body: conv(4, 1)
        - out:
            from: [classifier, input]
            merge: resize(mode='bilinear', align_corners=false)
    """, returns="returns: {out: out, aux: aux}\n")
    model = archdsl.build(arch)
    x = torch.randn(2, 3, 16, 16)
    for mode in (True, False):
        got = model.train(mode)(x)
        assert list(got) == ["out", "aux"]
        assert got["out"].shape == (2, 4, 16, 16) and got["aux"].shape == (2, 4, 8, 8)
    scripted = torch.jit.script(model.eval())
    torch.testing.assert_close(scripted(x)["out"], model(x)["out"])
    expected = nn.functional.interpolate(model.classifier(model.body(model.stem(x))),
                                         size=(16, 16), mode="bilinear", align_corners=False)
    torch.testing.assert_close(model(x)["out"], expected)


@pytest.mark.parametrize("network, message", [
    ("""
        - a: conv(8, 3)
        - b:
            from: [a, c]
            merge: add
        - c: conv(8, 3)
    """, "`c` is not written before this layer of the network"),
    ("""
        - a: conv(8, 3)
        - b:
            from: [a, z]
            merge: add
    """, "`z` is not a member of the network"),
    ("""
        - a: conv(8, 3)
        - b:
            from: [a, input]
            merge: add
    """, "`add` needs inputs of one shape"),
    ("""
        - a: conv(8, 3)
        - b:
            from: [a, input]
    """, "it needs a `merge:`"),
])
def test_references_are_checked_where_written(network, message):
    with pytest.raises(SpecError, match=message.replace("`", "`").replace("(", r"\(")):
        net(network)
