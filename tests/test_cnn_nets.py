"""CNN models: parameter and FLOP counts against hand-computed values, shapes, devices, options."""

from __future__ import annotations

import sys

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from ollama_bench.cnn import devices, optimize  # noqa: E402
from ollama_bench.cnn.flops import flops_per_image, largest_activation_bytes  # noqa: E402
from ollama_bench.cnn.nets import LeNet, SmallCnn, build, count_parameters  # noqa: E402
from ollama_bench.cnn.records import DeviceInfo  # noqa: E402
from ollama_bench.errors import UsageError  # noqa: E402


def conv(c_in: int, c_out: int, k: int, bias: bool = True) -> int:
    return c_in * c_out * k * k + (c_out if bias else 0)


def dense(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def bn(c: int) -> int:
    return 2 * c  # weight and bias; running mean and variance are buffers


def test_cnn8m_has_the_seed_parameter_count() -> None:
    expected = (
        conv(3, 64, 3)  # 1,792
        + conv(64, 128, 3)  # 73,856
        + conv(128, 256, 3)  # 295,168
        + dense(256 * 8 * 8, 512)  # 64 → 32 → 16 → 8 after three 2×2 pools: 8,389,120
        + dense(512, 10)  # 5,130
    )
    assert expected == 8_765_066
    assert count_parameters(build("cnn8m").module) == expected


def test_resnet18_has_the_reference_parameter_count() -> None:
    def block(c_in: int, c_out: int) -> int:
        shortcut = conv(c_in, c_out, 1, bias=False) + bn(c_out) if c_in != c_out else 0
        return conv(c_in, c_out, 3, False) + conv(c_out, c_out, 3, False) + 2 * bn(c_out) + shortcut

    expected = (
        conv(3, 64, 7, bias=False)  # 9,408
        + bn(64)
        + block(64, 64) * 2  # 147,968
        + block(64, 128)
        + block(128, 128)  # 525,568
        + block(128, 256)
        + block(256, 256)  # 2,099,712
        + block(256, 512)
        + block(512, 512)  # 8,393,728
        + dense(512, 1000)  # 513,000
    )
    assert expected == 11_689_512
    assert count_parameters(build("resnet18").module) == expected


def test_lenet_parameter_counts() -> None:
    classic = conv(1, 6, 5) + conv(6, 16, 5) + dense(16 * 5 * 5, 120) + dense(120, 84)
    assert count_parameters(LeNet(28)) == classic + dense(84, 10) == 61_706
    small = conv(1, 6, 3) + conv(6, 16, 3) + dense(16 * 2 * 2, 120) + dense(120, 84)
    assert count_parameters(LeNet(8)) == small + dense(84, 10) == 19_754


def test_cnn8m_flops_per_image() -> None:
    macs = (
        64 * 64 * 64 * (3 * 3 * 3)  # conv1: 64×64 outputs × 64 filters × 27 MACs = 7,077,888
        + 32 * 32 * 128 * (64 * 3 * 3)  # conv2: 75,497,472
        + 16 * 16 * 256 * (128 * 3 * 3)  # conv3: 75,497,472
        + 16_384 * 512  # dense: 8,388,608
        + 512 * 10  # output: 5,120
    )
    assert 2 * macs == 332_933_120
    spec = build("cnn8m")
    assert flops_per_image(spec.module, spec.image_shape) == 2 * macs


def test_resnet18_flops_per_image() -> None:
    def stage(side: int, c_in: int, c_out: int) -> int:
        first = side * side * c_out * (c_in * 9)  # stride-2 conv (or stride 1 in stage 1)
        rest = 3 * side * side * c_out * (c_out * 9)  # the three other 3×3 convs
        shortcut = side * side * c_out * c_in if c_in != c_out else 0  # 1×1 projection
        return first + rest + shortcut

    macs = (
        112 * 112 * 64 * (3 * 7 * 7)  # stem: 118,013,952
        + stage(56, 64, 64)  # 462,422,016
        + stage(28, 64, 128)  # 411,041,792
        + stage(14, 128, 256)  # 411,041,792
        + stage(7, 256, 512)  # 411,041,792
        + 512 * 1000  # fc: 512,000
    )
    assert 2 * macs == 3_628_146_688  # 1.814 G multiply-adds, the usual "1.8 GFLOPs"
    spec = build("resnet18")
    assert flops_per_image(spec.module, spec.image_shape) == 2 * macs


def test_lenet_flops_and_torch_agrees() -> None:
    macs = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 150 + 400 * 120 + 120 * 84 + 84 * 10
    spec = build("lenet")
    assert flops_per_image(spec.module, spec.image_shape) == 2 * macs == 833_040
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        spec.module(torch.zeros(1, *spec.image_shape))
    assert counter.get_total_flops() == 2 * macs  # torch's own counter uses the same convention


def test_largest_activation_of_resnet18_is_the_stem_output() -> None:
    spec = build("resnet18")
    assert largest_activation_bytes(spec.module, spec.image_shape) == 64 * 112 * 112 * 4


@pytest.mark.parametrize(("model", "size", "classes"), [(LeNet(8), 8, 10), (SmallCnn(3), 64, 3)])
def test_output_shapes(model: nn.Module, size: int, classes: int) -> None:
    channels = 1 if isinstance(model, LeNet) else 3
    assert model(torch.zeros(2, channels, size, size)).shape == (2, classes)


def test_unknown_model_and_lenet_size() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        build("vgg")
    with pytest.raises(ValueError, match="8×8 or 28×28"):
        LeNet(32)


def test_devices_cpu_always_and_reasons_for_the_rest() -> None:
    found = devices.detect()
    assert found[0] == DeviceInfo(name="cpu", available=True, description=found[0].description)
    for info in found[1:]:
        assert info.available or (info.reason and info.reason.startswith("not available"))
    if torch.version.cuda is None:
        cuda = next(d for d in found if d.name == "cuda")
        assert cuda.reason == "not available (torch built without CUDA)"
    assert devices.choose(["cpu", "cpu"], found) == ["cpu"]
    assert "cpu" in devices.choose(None, found)


def test_choosing_an_absent_device_names_the_reason() -> None:
    found = [
        DeviceInfo(name="cpu", available=True),
        DeviceInfo(name="cuda", available=False, reason="not available (torch built without CUDA)"),
    ]
    with pytest.raises(UsageError, match="torch built without CUDA") as caught:
        devices.choose(["cuda"], found)
    assert "available here: cpu" in caught.value.hint
    with pytest.raises(UsageError, match="unknown device"):
        devices.choose(["tpu"], found)


def test_physical_cores_is_at_least_one_and_within_the_affinity() -> None:
    assert 1 <= devices.physical_cores() <= devices.usable_cpus()


def test_optimisation_names() -> None:
    from ollama_bench.cnn.cli import DEFAULT_OPT

    assert optimize.parse(DEFAULT_OPT) == optimize.DEFAULT == ("channels_last", "keep_heap")
    assert optimize.parse("channels_last") == ("channels_last",)
    assert optimize.parse("none") == optimize.parse("") == ()
    with pytest.raises(UsageError, match="unknown optimisation fast"):
        optimize.parse("channels_last,fast")
    with pytest.raises(UsageError, match="exclude each other"):
        optimize.parse("compile,freeze")


def test_channels_last_changes_nothing_but_the_layout() -> None:
    spec = build("cnn8m")
    x = torch.randn(2, *spec.image_shape)
    cpu = torch.device("cpu")
    prepared = optimize.prepare(spec.module, cpu, ("channels_last",))
    assert prepared.applied == ("channels_last",)
    placed = prepared.place(x, cpu)
    assert placed.is_contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        torch.testing.assert_close(prepared.forward(placed), spec.module(x))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_keep_heap_is_applied_on_linux_and_only_on_the_cpu() -> None:
    spec = build("lenet")
    assert optimize.keep_heap()  # mallopt accepted every setting
    cpu = optimize.prepare(spec.module, torch.device("cpu"), optimize.DEFAULT)
    assert cpu.applied == ("channels_last", "keep_heap")
    meta = optimize.prepare(spec.module, torch.device("meta"), ("keep_heap",))
    assert meta.applied == ()  # host malloc does not concern other devices
