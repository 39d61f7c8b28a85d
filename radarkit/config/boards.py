"""Antenna geometry of the radar boards radarkit knows.

Positions are given in units of half a wavelength (lambda/2) in the radar frame of
``architecture.md``: the first coordinate is azimuth (along +x, to the right of boresight), the
second elevation (along +z, up). A virtual antenna of TX ``t`` and RX ``r`` sits at
``tx_position(t) + rx_position(r)``.

References
----------
TI, "IWR1843BOOST Evaluation Module User's Guide" (SPRUIM4), antenna layout; TI mmWave SDK
``antenna_geometry`` of the 18xx demos. The IWR1843BOOST layout used here (TX0 and TX2 on the
azimuth row 4 lambda/2 apart, TX1 raised by lambda/2 and shifted by 2 lambda/2) is the one in
``shared/specs/raw-format.md``.

The AWR1843AOP (antenna-on-package) layout is TI's ``antGeometry0/1`` of the AOP people-counting
configurations (``antGeometry0 -1 -1 0 0 -3 -3 -2 -2 -1 -1 0 0``,
``antGeometry1 -1 0 -1 0 -3 -2 -3 -2 -3 -2 -3 -2``, negated positions in lambda/2 of the virtual
antennas TX0..TX2 x RX0..RX3) with ``antPhaseRot 1 -1 1 -1 ...``: RX1 and RX3 are fed with opposite
polarity, so their samples carry a 180 degree phase that processing removes
(:attr:`Board.rx_phase`). It gives a 4 x 4 virtual grid with one 2 x 2 corner empty. Not yet
checked against a real AOP recording.
"""

from __future__ import annotations

from dataclasses import dataclass

from radarkit.errors import ConfigError

__all__ = ["Board", "BOARDS", "get_board"]


@dataclass(frozen=True)
class Board:
    """Antenna positions of one radar board.

    Parameters
    ----------
    name : str
        Board name as used in configurations (``"IWR1843BOOST"``).
    tx_positions : tuple of (float, float)
        ``(azimuth, elevation)`` of TX antenna 0, 1, 2, ... in lambda/2 units.
    rx_positions : tuple of (float, float)
        ``(azimuth, elevation)`` of RX antenna 0, 1, 2, ... in lambda/2 units.
    rx_phase : tuple of float
        Phase rotation (+1 or -1) that processing multiplies into each RX channel's samples to undo
        feed polarity (TI ``antPhaseRot``); empty means all +1.
    """

    name: str
    tx_positions: tuple[tuple[float, float], ...]
    rx_positions: tuple[tuple[float, float], ...]
    rx_phase: tuple[float, ...] = ()

    def rx_sign(self, rx: int) -> float:
        """Phase rotation (+1 or -1) of RX antenna ``rx`` (see ``rx_phase``)."""
        return float(self.rx_phase[rx]) if self.rx_phase else 1.0

    @property
    def n_tx(self) -> int:
        """Number of TX antennas on the board."""
        return len(self.tx_positions)

    @property
    def n_rx(self) -> int:
        """Number of RX antennas on the board."""
        return len(self.rx_positions)


#: Boards by name. ``ULA`` places TX antenna ``t`` at ``4 t`` lambda/2 so that TX-major virtual
#: antennas of 4 RX form a uniform linear array (the fallback for unknown boards).
BOARDS: dict[str, Board] = {
    "IWR1843BOOST": Board(
        "IWR1843BOOST",
        tx_positions=((0.0, 0.0), (2.0, 1.0), (4.0, 0.0)),
        rx_positions=((0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (3.0, 0.0)),
    ),
    "AWR1843AOP": Board(
        "AWR1843AOP",
        tx_positions=((0.0, 0.0), (2.0, 2.0), (0.0, 2.0)),
        rx_positions=((1.0, 1.0), (1.0, 0.0), (0.0, 1.0), (0.0, 0.0)),
        rx_phase=(1.0, -1.0, 1.0, -1.0),
    ),
    "ULA": Board(
        "ULA",
        tx_positions=((0.0, 0.0), (4.0, 0.0), (8.0, 0.0)),
        rx_positions=((0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (3.0, 0.0)),
    ),
}
# The AWR1843BOOST shares the IWR1843BOOST antenna layout.
BOARDS["AWR1843BOOST"] = Board("AWR1843BOOST", BOARDS["IWR1843BOOST"].tx_positions,
                               BOARDS["IWR1843BOOST"].rx_positions)


def get_board(name: str) -> Board:
    """Return the :class:`Board` called ``name``.

    Raises
    ------
    ConfigError
        If no board of that name is known.
    """
    try:
        return BOARDS[name]
    except KeyError:
        raise ConfigError(
            f"unknown board {name!r} (known: {', '.join(sorted(BOARDS))})", field="board"
        ) from None
