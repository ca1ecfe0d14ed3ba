<?xml version="1.0" encoding="UTF-8"?>
<core:CityModel xmlns:core="http://www.opengis.net/citygml/2.0" xmlns:bldg="http://www.opengis.net/citygml/building/2.0" xmlns:gml="http://www.opengis.net/gml">
<core:cityObjectMember><bldg:Building gml:id="G1">
<bldg:lod1MultiSurface><gml:MultiSurface srsName="urn:ogc:def:crs:EPSG::31258">
<gml:surfaceMember><gml:Polygon><gml:exterior><gml:LinearRing><gml:posList srsDimension="3">524670 165505 445 524670 165515 445 524680 165515 445 524680 165505 445 524670 165505 445</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon></gml:surfaceMember>
<gml:surfaceMember><gml:Polygon><gml:exterior><gml:LinearRing><gml:posList srsDimension="3">524670 165505 fünfundvierzig 524680 165505 455 524680 165515 455 524670 165515 455 524670 165505 455</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon></gml:surfaceMember>
</gml:MultiSurface></bldg:lod1MultiSurface>
</bldg:Building></core:cityObjectMember>
</core:CityModel>
