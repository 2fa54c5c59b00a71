"""Localization Augment's pooled keys sit where their pixels are on the global grid (positional encodings)."""

import pytest
import torch

from sam2refiner.model.modules.localization_augment import LocalizationAugment, tile_quadrants
from sam2refiner.model.sam2_compat.private import encode_xy


@pytest.fixture(scope="module")
def la():
    return LocalizationAugment(dim=64, num_heads=4, mlp_dim=64).eval()


def test_keys_of_pool_size_2_have_the_global_grids_own_encodings(la):
    h = 16  # the tiled quadrants are 2h; pooling by 2 gives one key per global cell
    queries = la.pos_enc(torch.zeros(1, 64, h, h))[0].flatten(1).T  # sam2's PositionEmbeddingSine, [h*h, C]
    torch.testing.assert_close(la.grid_pe((h, h), (h, h), "cpu"), queries, atol=1e-6, rtol=0)


@pytest.mark.parametrize("pool", [4, 8])
def test_a_pooled_key_sits_at_the_mean_position_of_the_global_cells_it_covers(la, pool):
    h = 16
    g = 2 * h // pool  # pooled grid side
    span = h // g  # global cells per pooled cell and side
    # sam2 places global cell i at (i + 1) / h; a pooled cell covering cells [j*span, (j+1)*span) at their mean.
    mean = torch.tensor([(torch.arange(j * span, (j + 1) * span) + 1.0).mean() / h for j in range(g)])
    ys, xs = torch.meshgrid(mean, mean, indexing="ij")
    pos_x, pos_y = encode_xy(la.pos_enc, x=xs.flatten(), y=ys.flatten())
    torch.testing.assert_close(la.grid_pe((g, g), (h, h), "cpu"), torch.cat([pos_y, pos_x], 1), atol=1e-5, rtol=0)
    # the pooled grid's own normalisation would be off by (span - 1) / 2 global cells
    own = la.pos_enc(torch.zeros(1, 64, g, g))[0].flatten(1).T
    assert (own - la.grid_pe((g, g), (h, h), "cpu")).abs().max() > 1e-2


def test_forward_keeps_the_shape_and_tiles_in_image_order(la):
    local = torch.arange(4.0).view(1, 4, 1, 1, 1).expand(1, 4, 64, 2, 2)
    tiled = tile_quadrants(local)[0, 0]
    assert tiled[0, 0] == 0 and tiled[0, -1] == 1 and tiled[-1, 0] == 2 and tiled[-1, -1] == 3
    out = la(torch.randn(2, 64, 8, 8), torch.randn(2, 4, 64, 8, 8))
    assert out.shape == (2, 64, 8, 8)
